"""One websocket connection: its AOI-1 requests, answered in order, and its channel.

The session is the connection's protocol (``Wire``). Each text message is
decoded as it arrives: an acknowledgement goes to the channel at once, a request
joins the connection's queue, which one task works through in arrival order and
then ends (an idle connection owns no task). A peer that queues requests faster
than they are answered is paused. Answers and notifications are written at once
and nothing waits for the peer: what a connection can have queued is bounded by
its channel's window and its request rate, and a peer that takes nothing is cut
off by ``--write-timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from gateway.protocol import frames, ids
from gateway.protocol.errors import Unavailable
from gateway.protocol.procedures import Directory, answer
from gateway.runtime import metrics
from gateway.ws.channel import Channel
from gateway.ws.host import DeviceHost
from gateway.ws.limits import TokenBucket
from gateway.ws.tokens import Identity
from gateway.ws.wire import ABNORMAL, Wire

# At debug level one line per answered request: its type, code, the connection and the
# client's tag (never the clientID, which is a capability, nor any payload).
log = logging.getLogger("gateway.requests")
# One line per connection opened and closed at info level: no IDs (the connection's
# own ID only at debug level), never a deviceNumber or payload.
connections_log = logging.getLogger("gateway.connections")
# Consecutive refused frames (invalid or over the rate) before closing with 1008.
STRIKE_LIMIT = 100
# Requests queued on one connection before reading from it pauses.
MAX_QUEUED_REQUESTS = 64
# Requests that identify a connection (it is then not closed by --identify-timeout).
_IDENTIFYING = (frames.AoiClientRegistrationReq, frames.NotificationChannelActivationReq)


class Session(Wire):
    """The state of one websocket connection on this node."""

    __slots__ = (
        "_background",
        "_bucket",
        "_expiry",
        "_forwarded",
        "_queue",
        "_strikes",
        "_worker",
        "channel",
        "conn_id",
        "device_number",
        "node",
        "opened",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        node: DeviceHost,
        compress: bool,
        forwarded: str | None = None,
        identity: Identity | None = None,
    ) -> None:
        super().__init__(transport, node.settings.max_frame_bytes, compress)
        # The client address when a trusted proxy forwarded it (else the peer's).
        self._forwarded = forwarded
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
        # Requests (and refusals of invalid frames) waiting for their answer, in order.
        self._queue: deque[tuple[frames.Request | frames.FrameError, float]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] | None = None  # made when first needed
        self.opened = time.monotonic()

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

    @property
    def address(self) -> str:
        """The client address this connection counts for."""
        if self._forwarded is not None:
            return self._forwarded
        peer = self.transport.get_extra_info("peername")
        return str(peer[0]) if peer else ""

    def wrong_device(self) -> None:
        """A request named another device's deviceNumber or clientID (refused with 403)."""
        metrics.auth_failure("device", "device")

    def _expire_at(self, expires_at: float) -> asyncio.TimerHandle:
        """Close with 4003 once the token expired; pending notifications wait in Redis."""
        delay = max(0.0, expires_at - time.time())
        return asyncio.get_running_loop().call_later(delay, self.close_soon, 4003, "expired")

    def close_soon(self, code: int, reason: str) -> None:
        """Close the websocket (node bus, drain, keep-alive, deadlines)."""
        self.close(code, reason)

    def open(self) -> None:
        """Make the connection reachable by the node bus and the keep-alive sweep; it
        must register or activate within ``--identify-timeout``."""
        self.node.local.add_outlet(self)
        metrics.CONNECTIONS.inc()
        open_now = len(self.node.local.outlets)
        if connections_log.isEnabledFor(logging.INFO):
            extra: dict[str, object] = {"open": open_now}
            if connections_log.isEnabledFor(logging.DEBUG):
                extra["connection"] = self.conn_id
            connections_log.info("connection opened (%d open)", open_now, extra=extra)

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

    # Receiving.

    def on_text(self, text: str) -> None:
        started = time.perf_counter()
        frame: frames.Request | frames.NotificationDeliveryRes | frames.FrameError
        try:
            frame = frames.decode(text)
        except frames.FrameError as error:
            frame = error
        if isinstance(frame, frames.NotificationDeliveryRes):
            channel = self.channel
            if channel is None or not channel.acknowledge(frame.notificationID, frame.code == 200):
                self._unknown_acknowledgement()
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append((frame, started))
        if len(queue) >= MAX_QUEUED_REQUESTS:
            self.transport.pause_reading()
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        """Answer the queued requests in arrival order, then end."""
        queue = self._queue
        try:
            while queue:
                frame, started = queue.popleft()
                await self._serve(frame, started)
                if len(queue) == MAX_QUEUED_REQUESTS // 2:
                    self.may_read()
        finally:
            self._worker = None
            self._queue = None  # an idle connection keeps no queue
            self.may_read()

    async def _serve(self, frame: frames.Request | frames.FrameError, started: float) -> None:
        if isinstance(frame, frames.FrameError):
            metrics.PROTOCOL_ERRORS.labels(frame.reason).inc()
            self._reply(frame.response, "invalid", started)
            self._strike()
            return
        message_type = frame.__struct_config__.tag
        assert isinstance(message_type, str)
        refusal = self._refusal(frame)
        if refusal is not None:
            metrics.PROTOCOL_ERRORS.labels("rate_limited").inc()
            refused = frames.reply(frame.response, 429, refusal, transactionID=frame.transactionID)
            self._reply(refused, message_type, started)
            self._strike()
            return
        self._strikes = 0
        response = await answer(frame, self)
        self._reply(response, message_type, started)
        if response.code == 200 and isinstance(frame, _IDENTIFYING):
            self.node.local.identified(self)
        if self.channel is not None:
            self.channel.start()

    def may_read(self) -> None:
        queue = self._queue
        if queue is None or len(queue) < MAX_QUEUED_REQUESTS:
            super().may_read()

    def _refusal(self, frame: frames.Request) -> str | None:
        """Why a request is refused unexecuted (429), or None."""
        if not self._bucket.take():
            return "request rate exceeded"
        if isinstance(
            frame, frames.AoiClientRegistrationReq
        ) and not self.node.address_limits.register(self.address):
            return "registration rate of this client address exceeded"
        return None

    def _unknown_acknowledgement(self) -> None:
        """An acknowledgement of nothing in flight here: refused, and over the request
        rate like any other frame (a flood of them ends in 1008)."""
        metrics.PROTOCOL_ERRORS.labels("unknown_ack").inc()
        self._bucket.take()
        self._strike()

    def _reply(self, response: frames.Response, label: str, started: float) -> None:
        self.send(frames.encode(response))
        metrics.observe_request(label, response.code, time.perf_counter() - started)
        if log.isEnabledFor(logging.DEBUG):
            tag = None if self.channel is None else self.channel.tag
            extra = {"connection": self.conn_id, "client_tag": tag}
            log.debug("%s answered %d", label, response.code, extra=extra)

    def _strike(self) -> None:
        self._strikes += 1
        if self._strikes >= STRIKE_LIMIT:
            self.fail(1008, "too many refused frames")

    # The end.

    def on_lost(self) -> None:
        self._spawn(self._finish())

    async def _finish(self) -> None:
        """The connection has closed: give up its channel and stop its tasks."""
        if self._expiry is not None:
            self._expiry.cancel()
        if self._worker is not None:
            self._worker.cancel()
        try:
            await self._release()
        finally:
            self.node.local.remove_outlet(self)
            metrics.CONNECTIONS.dec()
            self._log_closed()

    def _log_closed(self) -> None:
        if not connections_log.isEnabledFor(logging.INFO):
            return
        seconds = time.monotonic() - self.opened
        code = self.close_code or ABNORMAL
        extra: dict[str, object] = {"code": code, "duration_seconds": round(seconds, 3)}
        if connections_log.isEnabledFor(logging.DEBUG):
            extra["connection"] = self.conn_id
        open_now = len(self.node.local.outlets)
        connections_log.info(
            "connection closed: code %d after %.1f s (%d open)",
            code,
            seconds,
            open_now,
            extra=extra,
        )

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
