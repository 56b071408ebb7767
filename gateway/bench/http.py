"""A lean HTTP/1.1 client for the load generator's application-server side.

The generator shares the machine with the nodes, so every microsecond it spends
per request is one the nodes do not get. This client does only what ``aoi-bench``
needs: keep-alive connections that each carry one request at a time, request
bytes built by the caller, and responses framed by ``Content-Length`` (what the
gateway sends). Anything else (chunked bodies, a closed connection) fails the
request, and the next request on that connection reconnects.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

_HEAD_END = b"\r\n\r\n"
MAX_RESPONSE_BYTES = 16 << 20


class HttpError(Exception):
    """The connection broke or the response was not one this client reads."""


def post_request(url: str, path: str, api_key: str | None = None) -> Callable[[bytes], bytes]:
    """A function that frames a JSON body as a POST to ``url`` + ``path`` (with the API
    key as ``Authorization: Bearer``, if any)."""
    host = urlsplit(url).netloc
    authorization = "" if api_key is None else f"Authorization: Bearer {api_key}\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{authorization}Content-Length: "
    ).encode("latin-1")

    def frame(body: bytes) -> bytes:
        return b"%b%d\r\n\r\n%b" % (head, len(body), body)

    return frame


def _framed(buffer: bytearray) -> tuple[int, bytes, int] | None:
    """(status, body, bytes used) of the first complete response in ``buffer``, if any."""
    end = buffer.find(_HEAD_END)
    if end < 0:
        if len(buffer) > MAX_RESPONSE_BYTES:
            raise HttpError("response head too large")
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as error:
        raise HttpError(f"bad status line {lines[0]!r}") from error
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            raise HttpError("chunked responses are not supported")
    if length > MAX_RESPONSE_BYTES:
        raise HttpError("response body too large")
    used = end + len(_HEAD_END) + length
    if len(buffer) < used:
        return None
    return status, bytes(buffer[end + len(_HEAD_END) : used]), used


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            framed = _framed(self._buffer)
        except (HttpError, ValueError) as error:
            waiter.set_exception(HttpError(str(error)))
            self.close()
            return
        if framed is not None:
            status, body, used = framed
            del self._buffer[:used]
            self._waiter = None
            waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(HttpError(f"connection lost: {exc!r}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def start(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        if self.transport is None:
            raise HttpError("not connected")
        self._buffer.clear()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._waiter


class HttpClient:
    """One keep-alive connection to one node, one request at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._port = parts.port or (443 if self._ssl else 80)
        self._connection: _Connection | None = None

    async def post(self, data: bytes, timeout: float) -> tuple[int, bytes]:
        """Send ``data`` (head and body); returns (status, body)."""
        try:
            async with asyncio.timeout(timeout):
                if self._connection is None or self._connection.transport is None:
                    loop = asyncio.get_running_loop()
                    _, self._connection = await loop.create_connection(
                        _Connection, self._host, self._port, ssl=self._ssl
                    )
                return await self._connection.start(data)
        except BaseException:
            self.close()  # the connection's state is unknown now
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
