"""The websocket of one connection after the upgrade: frames in and out, on the socket itself.

Once the handshake is answered, the connection leaves aiohttp's request handler
(its request, its tasks and its buffered reader would otherwise live as long as
the connection) and is served by this protocol: each chunk from the socket is
checked for masks (RFC 6455 5.1), parsed by aiohttp's own frame reader (in C),
and every complete message is handed over at once, in the same callback. Nothing
waits per connection: an idle one owns no task and no coroutine frame.

Frames out are written whole, one socket write each. While the socket's send
buffer is past its high-water mark (the peer does not read), nothing more is read
from the peer, so the requests it sends cannot pile answers up; notifications
are bounded by the channel's window. A close is the RFC's
handshake: our close frame, then the peer's answer (or ``CLOSE_TIMEOUT``), then
a lingering close of the socket (the transport sends what is queued and a FIN,
so the peer reads the close frame before any reset).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import WSMessage, WSMsgType
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

from gateway.runtime import metrics
from gateway.ws.framing import MaskCheck

# How long a closing handshake may take before the connection is dropped.
CLOSE_TIMEOUT = 5.0
_CLOSE_REASONS = {1002: "protocol", 1007: "invalid_utf8", 1009: "too_large"}
_TEXT, _CLOSE, _PING, _PONG = 0x81, 0x88, 0x89, 0x8A  # first bytes of final frames
ABNORMAL = 1006  # no close frame: the connection was lost


def frame(first: int, payload: bytes) -> bytes:
    """A whole server frame (unmasked; uncompressed, which permessage-deflate allows)."""
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


class _Sink(WebSocketDataQueue):
    """Where aiohttp's frame reader puts each message: straight to the wire."""

    def __init__(self, wire: Wire) -> None:
        super().__init__(None, 1, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
        self.wire = wire

    def feed_data(self, data: WSMessage, size: int) -> None:  # type: ignore[override]
        self.wire.received(data)

    def set_exception(self, exc: BaseException, exc_cause: BaseException | None = None) -> None:
        self.wire.refused(exc)

    def feed_eof(self) -> None:
        return None


class Wire(asyncio.Protocol):
    """A server websocket on one socket (the connection's session extends it)."""

    __slots__ = (
        "_close_timer",
        "_masks",
        "_reader",
        "close_code",
        "heard",
        "output_full",
        "transport",
    )

    def __init__(self, transport: asyncio.Transport, max_message: int, compress: bool) -> None:
        self.transport = transport
        # aiohttp's reader refuses a message of exactly its limit; the contract accepts it.
        self._reader: WebSocketReader | None = WebSocketReader(
            _Sink(self), max_message + 1, compress=compress, decode_text=True
        )
        self._masks = MaskCheck()
        self._close_timer: asyncio.TimerHandle | None = None
        self.close_code: int | None = None  # set once a close frame went either way
        self.heard = time.monotonic()  # when the peer last sent anything (keep-alive)
        self.output_full = False  # the socket's send buffer is past its high-water mark

    # What a session does with what arrives.

    def on_text(self, text: str) -> None:
        raise NotImplementedError

    def on_lost(self) -> None:
        raise NotImplementedError

    # Receiving.

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None or self.transport.is_closing():
            return  # after an error or while closing: read and drop
        if not self._masks.feed(data):
            metrics.PROTOCOL_ERRORS.labels("unmasked").inc()
            self.fail(1002, "frame not masked")
            return
        self.heard = time.monotonic()
        reader.feed_data(data)

    def received(self, message: WSMessage) -> None:
        """One whole message from the reader."""
        kind = message.type
        if kind is WSMsgType.TEXT:
            if self.close_code is None:
                self.on_text(message.data)
        elif kind is WSMsgType.PING:
            self.write(frame(_PONG, bytes(message.data)))
        elif kind is WSMsgType.CLOSE:
            self._peer_closed(int(message.data or 1005), str(message.extra or ""))
        elif kind is WSMsgType.BINARY:
            metrics.PROTOCOL_ERRORS.labels("binary").inc()
            self.fail(1003, "binary frames are not accepted")

    def refused(self, error: BaseException) -> None:
        """The reader refused what came (too large, bad UTF-8, broken framing)."""
        code = int(getattr(error, "code", 1002))
        metrics.PROTOCOL_ERRORS.labels(_CLOSE_REASONS.get(code, "transport")).inc()
        self.fail(code, str(getattr(error, "message", "") or error)[:120])

    def _peer_closed(self, code: int, reason: str) -> None:
        if self.close_code is None:  # the peer began: answer with its code
            self.close_code = code
            self.write(frame(_CLOSE, _close_payload(code if code != 1005 else 1000, "")))
        self._end()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self.close_code is None:
            self.close_code = ABNORMAL
        self._reader = None
        self.on_lost()

    # Back-pressure: a peer that does not read what is written is not read from either.

    def pause_writing(self) -> None:
        self.output_full = True
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.output_full = False
        self.may_read()

    def may_read(self) -> None:
        """Read from the peer again, unless its output is still backed up."""
        transport = self.transport
        if not self.output_full and not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()

    # Sending.

    def write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def send(self, payload: bytes) -> None:
        """Write one text message now (nothing waits for the peer)."""
        if self.close_code is None:
            self.write(frame(_TEXT, payload))

    def ping(self) -> None:
        """A ping, unless output is still queued (the peer is not idle then)."""
        if self.close_code is None and not self.transport.get_write_buffer_size():
            self.write(frame(_PING, b""))

    def close(self, code: int, reason: str) -> None:
        """Begin the closing handshake; a peer that does not answer within
        CLOSE_TIMEOUT (it stopped reading) loses the connection."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.write(frame(_CLOSE, _close_payload(code, reason)))
        loop = asyncio.get_running_loop()
        self._close_timer = loop.call_later(CLOSE_TIMEOUT, self.transport.abort)

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): the close frame, then the socket's close
        at once; what the peer still sends is read and dropped."""
        self._reader = None
        self.close(code, reason)
        self._end()

    def _end(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self.transport.close()


def _close_payload(code: int, reason: str) -> bytes:
    return code.to_bytes(2, "big") + reason.encode()[:123]
