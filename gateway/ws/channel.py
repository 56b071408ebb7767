"""One notification channel and the pump that feeds it.

A channel writes its client's notifications to its websocket in acceptance
order, at most ``window`` unacknowledged at a time. Redis stays the truth: the
channel reads what is pending from Redis when it is activated, rung, caught up
or has room again, and every read is fenced by the ownership epoch.

A doorbell may carry the notification itself (``offer``): when it is the very
next one in order (its sequence follows the channel's cursor), of the channel's
epoch, and there is room, it is written at once without reading it back. Its
``sent`` status is then recorded with the next round trip (usually the one that
acknowledges it, so ``sent`` and ``delivered`` are written together). Anything
else (a gap, a full window, another epoch, a read in progress) makes the
channel read from Redis as without the shortcut.

The pump needs no task: a round trip is a submitted command whose reply is
handled in a callback, and at most one is in flight per channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from gateway.protocol import frames
from gateway.protocol.errors import Unavailable
from gateway.store import Pending, Store

_RETRY_DELAY = 0.5
# How soon ``sent`` is recorded for a notification written from a doorbell when no
# acknowledgement brings it along first.
_RECORD_DELAY = 0.2
# How long a stopping channel lets a round trip in flight finish.
_SETTLE_TIMEOUT = 2.0
log = logging.getLogger("gateway.channels")


class Outlet(Protocol):
    """Where a channel writes its frames (the websocket session)."""

    conn_id: str
    heard: float

    def send(self, frame: bytes) -> None: ...

    def ping(self) -> None: ...

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


class Channel:
    """One client's active notification channel on this node."""

    __slots__ = (
        "_acks",
        "_again",
        "_marks",
        "_rewound",
        "_round_trip",
        "_started",
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
        self._marks: list[str] = []  # written from a doorbell, ``sent`` not recorded yet
        self._round_trip: asyncio.Future[list[Any]] | None = None
        self._again = False  # another round trip was asked for while one was in flight
        self._rewound = False  # the cursor went back to 0 while a round trip was in flight
        self._started = False

    @property
    def idle(self) -> bool:
        """True when the channel has room and is not reading."""
        return self._started and len(self.inflight) < self.window and self._round_trip is None

    def start(self) -> None:
        """Start pushing (idempotent); the first pass reads everything pending."""
        if not self._started:
            self._started = True
            self.ring()

    def renew(self, epoch: int) -> None:
        """Activated again on the same connection: resend what is unacknowledged."""
        self.epoch = epoch
        self.inflight.clear()
        self.reread()

    def reread(self) -> None:
        """Read again from the oldest pending notification: after the link to Redis
        recovered, whose new primary (a failover) may not have had what this channel had
        already read or been given; what is sent twice is told apart by the device."""
        self.cursor = 0
        self._rewound = self._round_trip is not None  # its reply must not move the cursor
        self.ring()

    def ring(self) -> None:
        """New notifications may be waiting: read them (once the round trip in flight,
        if any, has come back)."""
        if self._round_trip is not None:
            self._again = True
        elif self._started or self._acks or self._marks:
            self._begin()

    def offer(self, note: Pending, epoch: int) -> None:
        """A doorbell carrying ``note``: write it now if it is the next one in order
        and fits, else read from Redis."""
        if (
            self._started
            and self._round_trip is None
            and epoch == self.epoch
            and note.seq == self.cursor + 1
            and len(self.inflight) < self.window
        ):
            if not self._marks:
                asyncio.get_running_loop().call_later(_RECORD_DELAY, self._record)
            self._marks.append(note.notification_id)
            self._write([note])
        else:
            self.ring()

    def _record(self) -> None:
        if self._marks:
            self.ring()

    def acknowledge(self, notification_id: str, delivered: bool) -> bool:
        """Queue the acknowledgement of an in-flight notification for the next round
        trip; False (nothing queued) for any other ID.

        What was sent before a re-activation comes again and is acknowledged then, so
        the queue never outgrows the window.
        """
        if notification_id not in self.inflight:
            return False
        self._acks.setdefault(notification_id, delivered)
        self.ring()
        return True

    async def stop(self) -> None:
        """Stop pushing; acknowledgements (and ``sent`` marks) already taken are still
        written."""
        self._started = False
        # A round trip Redis ran applied its acknowledgements: let its reply be counted.
        waiting = self._round_trip
        if waiting is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(waiting), _SETTLE_TIMEOUT)
        if self._acks or self._marks:
            acks, marks = self._take()
            done = self.store.begin_sync(self.tag, self.epoch, self.cursor, 0, acks, marks)
            with contextlib.suppress(Exception):
                await done  # (a failure is end_sync's to tell)
            with contextlib.suppress(Unavailable):
                self.store.end_sync(done, acks)

    def _take(self) -> tuple[dict[str, bool], list[str]]:
        acks, marks = self._acks, self._marks
        self._acks, self._marks = {}, []
        return acks, marks

    def _begin(self) -> None:
        """One round trip: record acknowledgements and marks, read what fits."""
        room = self.window - len(self.inflight) + len(self._acks) if self._started else 0
        if room <= 0 and not self._acks and not self._marks:
            return
        acks, marks = self._take()
        future = self.store.begin_sync(self.tag, self.epoch, self.cursor, room, acks, marks)
        self._round_trip = future
        future.add_done_callback(lambda done: self._end(done, acks, marks, room))

    def _end(
        self, done: asyncio.Future[list[Any]], acks: dict[str, bool], marks: list[str], room: int
    ) -> None:
        self._round_trip = None
        try:
            batch = self.store.end_sync(done, acks)
        except Unavailable:
            self._acks, self._marks = acks | self._acks, marks + self._marks
            asyncio.get_running_loop().call_later(_RETRY_DELAY, self.ring)
            return
        for notification_id in acks:
            self.inflight.pop(notification_id, None)
        if batch is None:
            # Fenced: the client was deactivated, superseded or removed meanwhile.
            self.outlet.drop_channel()
            return
        self._write(batch)
        if self._rewound:
            self._rewound, self.cursor = False, 0
        if self._again or (batch and len(batch) == room):
            self._again = False  # (a full window: more may be waiting)
            self.ring()

    def _write(self, batch: list[Pending]) -> None:
        if batch and log.isEnabledFor(logging.DEBUG):
            pushed = [note.notification_id for note in batch]
            log.debug(
                "pushing %d", len(batch), extra={"client_tag": self.tag, "notifications": pushed}
            )
        for note in batch:
            self.inflight[note.notification_id] = None
            self.cursor = note.seq
            self.outlet.send(delivery_frame(note))
