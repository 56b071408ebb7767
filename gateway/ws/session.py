"""One websocket connection: the messages of the handler's read loop; writes go straight out.

The session decodes each frame, answers requests strictly in arrival order and
hands acknowledgements to the channel. Responses (from the reader) and
notifications (from the channel's pump) are written at once, each frame with
one write to the socket, and nothing waits for the peer: what a connection can
have queued is bounded by its channel's window and its request rate, and a peer
that takes nothing is cut off by ``--write-timeout``. An idle connection owns no
task of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMessage, WSMsgType, web

from gateway.protocol import frames, ids
from gateway.protocol.errors import Unavailable
from gateway.protocol.procedures import Directory, answer
from gateway.runtime import metrics
from gateway.ws.channel import Channel
from gateway.ws.host import DeviceHost
from gateway.ws.limits import TokenBucket
from gateway.ws.tokens import Identity

# At debug level one line per answered request: its type, code, the connection and the
# client's tag (never the clientID, which is a capability, nor any payload).
log = logging.getLogger("gateway.requests")
# Consecutive refused frames (invalid or over the rate) before closing with 1008.
STRIKE_LIMIT = 100
# How long a closing handshake may take before the connection is dropped.
CLOSE_TIMEOUT = 5.0
_CLOSE_REASONS = {1007: "invalid_utf8", 1009: "too_large"}
_TEXT_FIN = 0x81  # the first byte of a final text frame
_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
# Requests that identify a connection (it is then not closed by --identify-timeout).
_IDENTIFYING = (frames.AoiClientRegistrationReq, frames.NotificationChannelActivationReq)


class Session:
    """The state of one websocket connection on this node."""

    __slots__ = (
        "_background",
        "_bucket",
        "_expiry",
        "_forwarded",
        "_strikes",
        "channel",
        "conn_id",
        "device_number",
        "heard",
        "node",
        "transport",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        node: DeviceHost,
        forwarded: str | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.ws = ws
        # The client address when a trusted proxy forwarded it (else the peer's).
        self._forwarded = forwarded
        self.transport = transport
        self.node = node
        self.conn_id = ids.new_connection_id()
        # The token's deviceNumber: every request must be about this device. Without
        # device authentication None, and no timer per connection.
        self.device_number = None if identity is None else identity.device_number
        self._expiry = None if identity is None else self._expire_at(identity.expires_at)
        self.channel: Channel | None = None
        rate = node.settings.request_rate
        self._bucket = TokenBucket(rate, 2 * rate)
        self._strikes = 0
        self._background: set[asyncio.Task[None]] | None = None  # made when first needed
        self.heard = time.monotonic()  # when the peer last sent anything (keep-alive)

    def send(self, frame: bytes) -> None:
        """Write one text frame now (unmasked, as a server sends; uncompressed, which
        permessage-deflate allows for any message)."""
        # While closing, the reader sees the close and ends the session.
        if self.ws.closed or self.transport.is_closing():
            return
        size = len(frame)
        if size < 126:
            header = bytes((_TEXT_FIN, size))
        elif size < 65536:
            header = bytes((_TEXT_FIN, 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((_TEXT_FIN, 127)) + size.to_bytes(8, "big")
        self.transport.write(header + frame)

    async def ping(self) -> None:
        """Send a ping (the node's keep-alive sweep); never waits on the peer.

        Skipped while output is still queued for the peer: the connection is not
        idle then, and a peer that stopped reading also stops answering and is
        closed by the sweep. With nothing queued the write cannot wait on flow
        control, so one sweep pings every connection without a task per ping.
        """
        if self.transport.get_write_buffer_size():
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.ping()

    @property
    def node_id(self) -> str:
        return self.node.node_id

    @property
    def draining(self) -> bool:
        return self.node.draining

    @property
    def directory(self) -> Directory:
        return self.node.store

    @property
    def max_applications(self) -> int:
        return self.node.settings.max_applications

    @property
    def channel_client(self) -> str | None:
        return None if self.channel is None else self.channel.client_id

    def wrong_device(self) -> None:
        """A request named another device's deviceNumber or clientID (refused with 403)."""
        metrics.auth_failure("device", "device")

    def _expire_at(self, expires_at: float) -> asyncio.TimerHandle:
        """Close with 4003 once the token expired; pending notifications wait in Redis."""
        delay = max(0.0, expires_at - time.time())
        return asyncio.get_running_loop().call_later(delay, self.close_soon, 4003, "expired")

    def close_soon(self, code: int, reason: str) -> None:
        """Close the websocket from outside the reader (node bus, drain)."""
        self._spawn(self._close(code, reason))

    def attach(self, client_id: str, tag: str, epoch: int) -> None:
        """Make this connection the client's channel (after a successful activation)."""
        if self.channel is not None and self.channel.client_id == client_id:
            self.channel.renew(epoch)
            return
        self.channel = Channel(
            self.node.store, self, client_id, tag, epoch, self.node.settings.inflight_window
        )
        self.node.local.put(self.channel)

    def drop_channel(self) -> None:
        """Stop pushing on this connection; ownership was already given up in Redis."""
        channel, self.channel = self.channel, None
        if channel is not None:
            self.node.local.discard(channel)
            self._spawn(channel.stop())

    def open(self) -> None:
        """Make the connection reachable by the node bus and the keep-alive sweep; it
        must register or activate within ``--identify-timeout``."""
        self.node.local.add_outlet(self)

    @property
    def address(self) -> str:
        """The client address this connection counts for."""
        if self._forwarded is not None:
            return self._forwarded
        peer = self.transport.get_extra_info("peername")
        return str(peer[0]) if peer else ""

    async def on_message(self, message: WSMessage) -> bool:
        """Handle one message from ``ws.receive()``; False once the connection is done.

        The caller owns the read loop, so an idle connection keeps no frame of ours
        beyond the handler's (memory per connection).
        """
        self.heard = time.monotonic()
        kind = message.type
        if kind == WSMsgType.TEXT:
            await self._on_text(message.data)
        elif kind == WSMsgType.PING:
            await self.ws.pong(message.data)
        elif kind == WSMsgType.BINARY:
            metrics.PROTOCOL_ERRORS.labels("binary").inc()
            await self._close(1003, "binary frames are not accepted")
            return False
        elif kind == WSMsgType.ERROR:
            # aiohttp has closed the socket with the error's code (1007, 1009, ...).
            code = int(getattr(message.data, "code", 0))
            metrics.PROTOCOL_ERRORS.labels(_CLOSE_REASONS.get(code, "transport")).inc()
        return kind not in _ENDED

    async def finish(self) -> None:
        """The connection has closed: give up its channel and stop its tasks."""
        if self._expiry is not None:
            self._expiry.cancel()
        try:
            await self._release()
        finally:
            for task in list(self._background or ()):
                task.cancel()
            self.node.local.remove_outlet(self)

    async def _on_text(self, text: str) -> None:
        started = time.perf_counter()
        try:
            frame = frames.decode(text)
        except frames.FrameError as error:
            metrics.PROTOCOL_ERRORS.labels(error.reason).inc()
            self._reply(error.response, "invalid", started)
            await self._strike()
            return
        if isinstance(frame, frames.NotificationDeliveryRes):
            if not self._on_acknowledgement(frame):
                await self._unknown_acknowledgement()
            return
        message_type = frame.__struct_config__.tag
        assert isinstance(message_type, str)
        refusal = self._refusal(frame)
        if refusal is not None:
            metrics.PROTOCOL_ERRORS.labels("rate_limited").inc()
            refused = frames.reply(frame.response, 429, refusal, transactionID=frame.transactionID)
            self._reply(refused, message_type, started)
            await self._strike()
            return
        self._strikes = 0
        response = await answer(frame, self)
        self._reply(response, message_type, started)
        if response.code == 200 and isinstance(frame, _IDENTIFYING):
            self.node.local.identified(self)
        if self.channel is not None:
            self.channel.start()

    def _refusal(self, frame: frames.Request) -> str | None:
        """Why a request is refused unexecuted (429), or None."""
        if not self._bucket.take():
            return "request rate exceeded"
        if isinstance(
            frame, frames.AoiClientRegistrationReq
        ) and not self.node.address_limits.register(self.address):
            return "registration rate of this client address exceeded"
        return None

    async def _unknown_acknowledgement(self) -> None:
        """An acknowledgement of nothing in flight here: refused, and over the request
        rate like any other frame (a flood of them ends in 1008)."""
        metrics.PROTOCOL_ERRORS.labels("unknown_ack").inc()
        self._bucket.take()
        await self._strike()

    def _reply(self, response: frames.Response, label: str, started: float) -> None:
        self.send(frames.encode(response))
        metrics.observe_request(label, response.code, time.perf_counter() - started)
        if log.isEnabledFor(logging.DEBUG):
            tag = None if self.channel is None else self.channel.tag
            extra = {"connection": self.conn_id, "client_tag": tag}
            log.debug("%s answered %d", label, response.code, extra=extra)

    async def _strike(self) -> None:
        self._strikes += 1
        if self._strikes >= STRIKE_LIMIT:
            await self._close(1008, "too many refused frames")

    def _on_acknowledgement(self, ack: frames.NotificationDeliveryRes) -> bool:
        """Hand an acknowledgement to the channel; False when nothing of that ID is in
        flight on this connection."""
        channel = self.channel
        return channel is not None and channel.acknowledge(ack.notificationID, ack.code == 200)

    async def _close(self, code: int, reason: str) -> None:
        """Close with ``code``; a peer that does not take the close frame and answer
        within CLOSE_TIMEOUT (it stopped reading) loses the connection instead."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close(code=code, message=reason.encode())
        except TimeoutError:
            self.transport.abort()

    async def _release(self) -> None:
        channel, self.channel = self.channel, None
        if channel is None:
            return
        self.node.local.discard(channel)
        await channel.stop()
        with contextlib.suppress(Unavailable):
            await self.node.store.release(channel.tag, self.node.node_id, self.conn_id)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        if self._background is None:
            self._background = set()
        self._background.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if self._background is not None:
            self._background.discard(task)
            if not self._background:
                self._background = None  # an idle connection keeps no set
