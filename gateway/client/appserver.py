"""A small async application-server client of the gateway's HTTP API."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from gateway.client.device import DEFAULT_TIMEOUT

_STREAM_ABOVE = 1 << 20
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class AppServer:
    """An application server using the HTTP API of one node (``http://host:port``);
    ``api_key`` is sent as ``Authorization: Bearer`` on every call."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        timeout: float = DEFAULT_TIMEOUT,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One HTTP call; returns (status, decoded JSON body or None)."""
        data: bytes | io.BytesIO | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else _encoder.encode(body)
            if len(data) > _STREAM_ABOVE:
                data = io.BytesIO(data)  # large bodies are streamed, not written at once
        async with self.session.request(
            method,
            self.base_url + path,
            data=data,
            timeout=self.timeout,
            headers={**self.headers, **(headers or {})},
        ) as response:
            raw = await response.read()
            return response.status, (_decoder.decode(raw) if raw else None)

    async def send(
        self,
        registration_id: str,
        payload: str,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> tuple[int, Any]:
        """Send one notification; with ``idempotency_key`` a retry is answered as the first
        send (``Idempotency-Key``, contract section 2.6)."""
        body = {"registrationID": registration_id, "payload": payload, **fields}
        headers = None if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        return await self.call("POST", "/v1/notifications", body, headers)

    async def send_batch(self, notifications: list[dict[str, Any]]) -> tuple[int, Any]:
        return await self.call("POST", "/v1/notifications:batch", {"notifications": notifications})

    async def status(self, notification_id: str) -> tuple[int, Any]:
        return await self.call("GET", f"/v1/notifications/{notification_id}")

    async def cancel(self, notification_id: str) -> tuple[int, Any]:
        return await self.call("DELETE", f"/v1/notifications/{notification_id}")

    async def client(self, client_id: str) -> tuple[int, Any]:
        return await self.call("GET", f"/v1/clients/{quote(client_id, safe='')}")

    async def client_by_device_number(self, device_number: str) -> tuple[int, Any]:
        return await self.call("GET", f"/v1/clients?deviceNumber={quote(device_number, safe='')}")

    async def nodes(self) -> tuple[int, Any]:
        """``GET /v1/admin/nodes``: every live node of the fleet."""
        return await self.call("GET", "/v1/admin/nodes")
