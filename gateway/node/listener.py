"""The node's listening sockets: every connection counted and timed from accept.

aiohttp's request handler gets what it lacks against a hostile peer here:

- connections are counted from accept, before any upgrade; past the listener's
  cap (the process's file limit less a reserve, so the operations port and
  Redis always have descriptors) and past a client address's rate of new
  connections a connection is answered 503 at once and closed;
- the request line and headers must arrive within ``--header-timeout`` (from
  accept, or from the first byte of the next request on a keep-alive
  connection) and within ``--max-header-bytes`` altogether; idle keep-alive
  connections close after ``--keepalive-timeout`` (aiohttp's own timer);
- a write that makes no progress for ``--write-timeout`` aborts the connection;
- closes linger (``linger.py``) so the last answer or close frame arrives;
- an upgraded connection is handed to its websocket session (``hand_over``);
- a malformed request is answered 400 (431 for a head too large) as JSON,
  counted under route ``invalid``, and logged without a traceback.

One sweep a second does all the timing: no timer per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from gateway.api.bodies import error_response
from gateway.node.linger import LINGER_SECONDS, Linger
from gateway.protocol.errors import BadRequest, GatewayError
from gateway.runtime import metrics

log = logging.getLogger(__name__)
# Descriptors kept free below the file limit for everything but the main port's
# connections: the operations port, Redis, the node bus, logs.
FILE_RESERVE = 128
OPS_CONNECTIONS = 32
SWEEP_SECONDS = 0.5
_HEAD_TOO_LARGE = 431


def main_port_cap() -> int:
    """Connections the main port takes: the file limit less the reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(soft - FILE_RESERVE, soft // 2 if soft < 2 * FILE_RESERVE else soft))


@dataclass(frozen=True)
class ListenerLimits:
    """What one listener allows."""

    name: str
    cap: int
    header_timeout: float
    keepalive_timeout: float
    write_timeout: float
    max_header_bytes: int
    admit: Callable[[str], bool] | None = None  # a client address's new-connection rate


class Listener:
    """The connections of one listening socket, and the sweep that times them."""

    def __init__(self, server: web.Server, limits: ListenerLimits) -> None:
        self.server = server
        self.limits = limits
        self.open: set[GuardedHandler] = set()
        self.heading: dict[GuardedHandler, float] = {}  # request head started at
        self.backlog: dict[Linger, tuple[float, int]] = {}  # progress seen at, bytes sent
        self.closing: dict[Linger, float] = {}  # linger deadline
        self._gauge = metrics.TCP_CONNECTIONS.labels(limits.name)
        self._loop = asyncio.get_running_loop()
        self._sweeper: asyncio.Task[None] | None = None

    def protocol(self) -> GuardedHandler:
        """The protocol factory for ``loop.create_server``."""
        limits = self.limits
        return GuardedHandler(
            self,
            self.server,
            loop=self._loop,
            access_log=None,
            keepalive_timeout=limits.keepalive_timeout,
            max_line_size=limits.max_header_bytes,
            max_field_size=limits.max_header_bytes,
            auto_decompress=False,  # bodies are inflated, bounded, in api/reading.py
        )

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="listener-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    def opened(self, handler: GuardedHandler, peer: str) -> bool:
        """Count a new connection; False when it is refused."""
        limits = self.limits
        if len(self.open) >= limits.cap:
            return _refused("connections")
        if limits.admit is not None and not limits.admit(peer):
            return _refused("address_rate")
        self.open.add(handler)
        self._gauge.set(len(self.open))
        self.heading[handler] = time.monotonic()
        return True

    def closed(self, handler: GuardedHandler) -> None:
        self.open.discard(handler)
        self._gauge.set(len(self.open))
        self.heading.pop(handler, None)
        self.backlog.pop(handler.linger, None)
        self.closing.pop(handler.linger, None)

    def backlogged(self, transport: Linger) -> None:
        if transport not in self.backlog:
            self.backlog[transport] = (time.monotonic(), transport.sent)

    def lingering(self, transport: Linger) -> None:
        self.closing[transport] = time.monotonic() + LINGER_SECONDS

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        """Close what ran out of time: request heads, stalled writes, lingering closes."""
        late = now - self.limits.header_timeout
        for handler, since in list(self.heading.items()):
            if since < late:
                del self.heading[handler]
                metrics.CLOSED.labels("header_timeout").inc()
                handler.linger.abort()
        for transport, (since, sent) in list(self.backlog.items()):
            self._watch_writes(now, transport, since, sent)
        for transport, deadline in list(self.closing.items()):
            if deadline < now:
                del self.closing[transport]
                transport.finish()

    def _watch_writes(self, now: float, transport: Linger, since: float, sent: int) -> None:
        if not transport.get_write_buffer_size():
            del self.backlog[transport]
        elif transport.sent > sent:
            self.backlog[transport] = (now, transport.sent)
        elif now - since > self.limits.write_timeout:
            del self.backlog[transport]
            metrics.CLOSED.labels("write_timeout").inc()
            transport.abort()


def _refused(reason: str) -> bool:
    metrics.REFUSED.labels(reason).inc()
    metrics.observe_http("refused", 503)
    return False


class GuardedHandler(RequestHandler):
    """aiohttp's request handler, counted, timed and bounded by its ``Listener``."""

    __slots__ = ("_head_bytes", "_listener", "_wire", "linger")

    def __init__(self, listener: Listener, server: web.Server, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._listener = listener
        self._head_bytes = 0
        self._wire: asyncio.Protocol | None = None  # the websocket it was handed over to

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.linger = Linger(cast(asyncio.Transport, transport), self._listener)
        super().connection_made(self.linger)
        peer = transport.get_extra_info("peername")
        if not self._listener.opened(self, str(peer[0]) if peer else ""):
            self.linger.write(REFUSED)
            self.linger.drop()  # no lingering: a flood must not hold descriptors
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._listener.closed(self)
        if self._wire is not None:
            self._wire.connection_lost(exc if isinstance(exc, Exception) else None)
        super().connection_lost(exc)  # after a hand-over: already done, nothing happens

    def data_received(self, data: bytes) -> None:
        if self._wire is not None:
            self._wire.data_received(data)
            return
        if self.linger.closing:
            return  # a lingering close reads and drops what still comes
        self._request_data(data)

    def pause_writing(self) -> None:
        if self._wire is not None:
            self._wire.pause_writing()
        else:
            super().pause_writing()

    def resume_writing(self) -> None:
        if self._wire is not None:
            self._wire.resume_writing()
        else:
            super().resume_writing()

    def hand_over(self, wire: asyncio.Protocol) -> bytes:
        """The connection, upgraded to a websocket, is ``wire``'s from now on (this
        handler forwards it what arrives). aiohttp lets go of it once the handler has
        returned; the listener goes on counting and timing it. Returns the bytes read
        past the upgrade request."""
        self._wire = wire
        self._listener.heading.pop(self, None)
        tail, self._message_tail = self._message_tail, b""
        self.transport = None  # aiohttp's loop must not close what it no longer serves
        asyncio.get_running_loop().call_soon(RequestHandler.connection_lost, self, None)
        return tail

    def _request_data(self, data: bytes) -> None:
        heading = self._listener.heading
        waiter = self._waiter  # aiohttp waits on it for the next request's head
        if self not in heading and waiter is not None and not waiter.done():
            heading[self] = time.monotonic()  # the first byte of the next request
            self._head_bytes = 0
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            heading.pop(self, None)  # a request head is complete
        elif self in heading:
            self._head_bytes += len(data)
            if self._head_bytes > self._listener.limits.max_header_bytes:
                self._answer_and_close(_HEAD_TOO_LARGE, "request head: too large")

    def _answer_and_close(self, status: int, detail: str) -> None:
        self._listener.heading.pop(self, None)
        metrics.observe_http("invalid", status)
        self.linger.write(_raw_error(status, detail))
        self.force_close()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse is bad input: JSON 400 (431), no traceback."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, LineTooLong):
            status = _HEAD_TOO_LARGE
        detail = f"request: {(message or str(exc or 'malformed'))[:200]}"
        log.info("malformed request answered %d: %s", status, detail)
        metrics.observe_http("invalid", status)
        error: GatewayError = BadRequest(detail)
        error.code = status
        response = error_response(error)
        response.force_close()
        return response


def _raw_error(status: int, detail: str) -> bytes:
    """A whole HTTP answer, for when aiohttp is not the one answering."""
    error = BadRequest(detail)
    error.code = status
    response = error_response(error)
    body = response.body
    assert isinstance(body, bytes)
    retry = "Retry-After: 1\r\n" if status == 503 else ""
    head = (
        f"HTTP/1.1 {status} {response.reason}\r\nContent-Type: application/json\r\n{retry}"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


REFUSED = _raw_error(503, "connections: too many at this node or from this address; retry")


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are handled by a ``Listener``."""

    __slots__ = ("_listener", "_sock")

    def __init__(
        self, runner: web.BaseRunner, listener: Listener, sock: socket.socket, backlog: int
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._listener = listener
        self._sock = sock

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._listener.protocol, sock=self._sock, backlog=self._backlog
        )
        self._listener.start()

    async def stop(self) -> None:
        await super().stop()
        await self._listener.stop()
