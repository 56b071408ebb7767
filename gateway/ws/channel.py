"""One notification channel and the pump that feeds it.

A channel reads its client's pending notifications from Redis in acceptance
order, at most ``window`` unacknowledged at a time, and writes them to its
websocket. It is woken by a doorbell from the node bus, by an acknowledgement
that frees room, and by the periodic catch-up; it never trusts a doorbell to
carry data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from gateway.protocol import frames
from gateway.protocol.errors import Unavailable
from gateway.store import Pending, Store

_RETRY_DELAY = 0.5
# How long a stopping channel lets a sync in flight finish before cancelling it.
_SETTLE_TIMEOUT = 2.0
log = logging.getLogger("gateway.channels")


class Outlet(Protocol):
    """Where a channel writes its frames (the websocket session)."""

    conn_id: str
    heard: float

    async def push(self, frame: bytes) -> None: ...

    async def ping(self) -> None: ...

    def close_soon(self, code: int, reason: str) -> None: ...

    def drop_channel(self) -> None: ...


def delivery_frame(note: Pending) -> bytes:
    """The ``notificationDeliveryReq`` frame of a pending notification."""
    return frames.encode(
        frames.NotificationDeliveryReq(
            notificationID=note.notification_id,
            registrationID=note.registration_id,
            applicationID=note.application_id,
            payload=note.payload,
            sentTime=note.accepted_ms,
        )
    )


class OnDemand:
    """Runs ``step`` in a task while there is work for it; no task exists while idle.

    Idle channels then cost no task at all, which keeps memory per connection low.
    """

    __slots__ = ("_pending", "_step", "_task")

    def __init__(self, step: Callable[[], Awaitable[None]]) -> None:
        self._step = step
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    def poke(self) -> None:
        """Ask for one more run of ``step`` (coalesced with one already asked for)."""
        self._pending = True
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._pending:
                self._pending = False
                try:
                    await self._step()
                except Unavailable:
                    await asyncio.sleep(_RETRY_DELAY)
                    self._pending = True
        finally:
            self._task = None

    async def settle(self, timeout: float) -> None:
        """Let the run in progress (if any) finish; cancel it after ``timeout``."""
        task = self._task
        if task is not None:
            _, waiting = await asyncio.wait({task}, timeout=timeout)
            if waiting:
                await self.cancel()

    async def cancel(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Channel:
    """One client's active notification channel on this node."""

    __slots__ = (
        "_acks",
        "_started",
        "_worker",
        "client_id",
        "cursor",
        "epoch",
        "inflight",
        "outlet",
        "store",
        "tag",
        "window",
    )

    def __init__(
        self, store: Store, outlet: Outlet, client_id: str, tag: str, epoch: int, window: int
    ) -> None:
        self.store = store
        self.outlet = outlet
        self.client_id = client_id
        self.tag = tag
        self.epoch = epoch
        self.window = window
        self.cursor = 0
        # Unacknowledged notificationIDs; a dict (used as an ordered set) is a third
        # of the size of an empty set, which matters with one channel per device.
        self.inflight: dict[str, None] = {}
        self._acks: dict[str, bool] = {}
        self._worker = OnDemand(self._sync)
        self._started = False

    @property
    def idle(self) -> bool:
        """True when the channel has room and is not reading."""
        return self._started and len(self.inflight) < self.window and not self._worker.busy

    def start(self) -> None:
        """Start pushing (idempotent); the first pass reads everything pending."""
        if not self._started:
            self._started = True
            self._worker.poke()

    def renew(self, epoch: int) -> None:
        """Activated again on the same connection: resend what is unacknowledged."""
        self.epoch = epoch
        self.cursor = 0
        self.inflight.clear()
        self.ring()

    def ring(self) -> None:
        """New notifications may be waiting."""
        if self._started:
            self._worker.poke()

    def acknowledge(self, notification_id: str, delivered: bool) -> bool:
        """Queue the acknowledgement of an in-flight notification for the next sync;
        False (nothing queued) for any other ID.

        What was sent before a re-activation comes again and is acknowledged then, so
        the queue never outgrows the window.
        """
        if notification_id not in self.inflight:
            return False
        self._acks.setdefault(notification_id, delivered)
        self._worker.poke()
        return True

    async def stop(self) -> None:
        """Stop pushing; acknowledgements already received are still written."""
        self._started = False
        # A sync cancelled after Redis ran it would apply its acknowledgements without
        # counting them (the retry finds them final): let it finish, within bounds.
        await self._worker.settle(_SETTLE_TIMEOUT)
        if self._acks:
            with contextlib.suppress(Unavailable):
                await self._sync()

    async def _sync(self) -> None:
        """One round trip: write the acknowledgements, read what fits in the window."""
        acks, self._acks = self._acks, {}
        room = self.window - len(self.inflight) + len(acks) if self._started else 0
        if room <= 0 and not acks:
            return
        try:
            batch = await self.store.sync(self.tag, self.epoch, self.cursor, room, acks)
        except BaseException:
            self._acks = acks | self._acks
            raise
        for notification_id in acks:
            self.inflight.pop(notification_id, None)
        if batch is None:
            # Fenced: the client was deactivated, superseded or removed meanwhile.
            self.outlet.drop_channel()
            return
        if batch and log.isEnabledFor(logging.DEBUG):
            pushed = [note.notification_id for note in batch]
            log.debug(
                "pushing %d", len(batch), extra={"client_tag": self.tag, "notifications": pushed}
            )
        for note in batch:
            self.inflight[note.notification_id] = None
            self.cursor = note.seq
            await self.outlet.push(delivery_frame(note))
        if batch and len(batch) == room:
            self.ring()  # the window was filled: more may be waiting
