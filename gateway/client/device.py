"""A small async device client of the gateway (AOI-1 over WebSocket).

Used by the tests, the benchmark tool and ``aoi-ctl``. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import aiohttp
import msgspec

DEFAULT_TIMEOUT = 10.0
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_ENDED = (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR)


class AoiError(Exception):
    """A response whose code is not 200."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(f"{response.get('code')} {response.get('desc')}: {response.get('detail')}")
        self.code = int(response.get("code", 0))
        self.response = response


class Device:
    """One AOI Client connection: requests with transactionIDs, pushed notifications."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, owned: aiohttp.ClientSession | None):
        self.ws = ws
        self._owned = owned
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.unmatched: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        token: str | None = None,
        **options: Any,
    ) -> Device:
        """Open a websocket to ``url`` (``http://host:port/ws``); ``token`` is the device
        token, sent as ``Authorization: Bearer`` (needed when the node authenticates
        devices; a refused token raises ``aiohttp.WSServerHandshakeError`` with 401)."""
        owned = None
        if session is None:
            session = owned = aiohttp.ClientSession()
        if token is not None:
            options["headers"] = {**options.get("headers", {}), "Authorization": f"Bearer {token}"}
        try:
            ws = await session.ws_connect(
                url, timeout=aiohttp.ClientWSTimeout(ws_close=timeout), **options
            )
        except BaseException:
            if owned is not None:
                await owned.close()
            raise
        return cls(ws, owned)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._route(_decoder.decode(message.data))
                elif message.type == aiohttp.WSMsgType.CLOSE:
                    self.close_reason = message.extra or None
                    await self.ws.close()
                    return
                elif message.type in _ENDED:
                    return
        finally:
            self.close_code = self.ws.close_code
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("websocket closed"))
            self.closed.set()

    def _route(self, frame: dict[str, Any]) -> None:
        if frame.get("messageType") == "notificationDeliveryReq":
            self.notifications.put_nowait(frame)
            return
        future = self._waiting.pop(str(frame.get("transactionID")), None)
        if future is not None and not future.done():
            future.set_result(frame)
        else:
            self.unmatched.put_nowait(frame)

    async def send_text(self, text: str) -> None:
        """Send a raw text frame (for tests of bad input)."""
        await self.ws.send_str(text)

    async def request(
        self, frame: dict[str, Any], timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """Send a request with a fresh transactionID and wait for its response."""
        transaction = f"t{next(self._ids)}"
        future = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        await self.ws.send_str(_encoder.encode({**frame, "transactionID": transaction}).decode())
        try:
            async with asyncio.timeout(timeout):
                response: dict[str, Any] = await future
                return response
        finally:
            self._waiting.pop(transaction, None)

    async def _ok(self, frame: dict[str, Any]) -> dict[str, Any]:
        response = await self.request(frame)
        if response.get("code") != 200:
            raise AoiError(response)
        return response

    async def register(self, device_number: str) -> str:
        """AOI Client Registration; returns the clientID."""
        response = await self._ok(
            {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number}
        )
        return str(response["clientID"])

    async def deregister(self, client_id: str) -> None:
        await self._ok({"messageType": "aoiClientDeregistrationReq", "clientID": client_id})

    async def activate(self, client_id: str) -> None:
        await self._ok({"messageType": "notificationChannelActivationReq", "clientID": client_id})

    async def deactivate(self, client_id: str) -> None:
        await self._ok({"messageType": "notificationChannelDeactivationReq", "clientID": client_id})

    async def register_application(self, client_id: str, application_id: str) -> str:
        """Client Application Registration; returns the registrationID."""
        response = await self._ok(
            {
                "messageType": "clientApplicationRegistrationReq",
                "clientID": client_id,
                "applicationID": application_id,
            }
        )
        return str(response["registrationID"])

    async def deregister_application(self, client_id: str, application_id: str) -> None:
        await self._ok(
            {
                "messageType": "clientApplicationDeregistrationReq",
                "clientID": client_id,
                "applicationID": application_id,
            }
        )

    async def next_notification(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next pushed ``notificationDeliveryReq``."""
        async with asyncio.timeout(timeout):
            return await self.notifications.get()

    async def acknowledge(self, notification_id: str, code: int = 200) -> None:
        """Send ``notificationDeliveryRes`` (200 delivered, anything else rejected)."""
        frame = {
            "messageType": "notificationDeliveryRes",
            "notificationID": notification_id,
            "code": code,
            "desc": "OK" if code == 200 else "Rejected",
        }
        await self.ws.send_str(_encoder.encode(frame).decode())

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> int | None:
        """Wait until the node closes the connection; returns the close code."""
        async with asyncio.timeout(timeout):
            await self.closed.wait()
        return self.close_code

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DEFAULT_TIMEOUT):
                await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        if self._owned is not None:
            await self._owned.close()

    async def __aenter__(self) -> Device:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
