"""Notifications: accept (one or a batch), read for a channel with its acks, status, cancel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.protocol import ids
from gateway.protocol.errors import (
    Conflict,
    GatewayError,
    NotFound,
    OutOfScope,
    TooManyRequests,
    Unavailable,
)
from gateway.runtime import metrics
from gateway.store import keys
from gateway.store.base import FAILURES, Unreplicated, now_ms, unavailable
from gateway.store.expiry import Expiry
from gateway.store.link import Command
from gateway.store.records import (
    Accepted,
    Doorbell,
    NotificationStatus,
    Outgoing,
    Pending,
    Scope,
)

# How long a ttl-0 notification may wait for an active channel before it expires.
ZERO_TTL_GRACE_MS = 2000
_ACK = {True: "delivered", False: "rejected"}
UNKNOWN_REGISTRATION = "registrationID: unknown registration"
UNKNOWN_NOTIFICATION = "notificationID: unknown notification"


class Notifications(Expiry):
    """Notifications: accept, read for a channel with its acknowledgements, status, cancel.

    ``scope`` is what the sender's API key covers; the scripts refuse (403) what it does
    not cover before they change anything.
    """

    async def send(self, outgoing: Outgoing, max_pending: int, scope: Scope) -> Accepted:
        """Store one notification durably and ring the node holding its channel."""
        plan = _plan(outgoing)
        if plan is None:
            raise NotFound(UNKNOWN_REGISTRATION)
        period = self.period()
        command = self._send(outgoing, plan, max_pending, scope, period)
        try:
            reply, here = self._ring(plan, outgoing, await self._call(command, durable=True))
        except Unreplicated as short:
            self._ring_stored(plan, short.replies[0])
            raise
        await self._file_news([plan[0]] if _news(reply) else [], period)
        result = _accepted(plan, reply, max_pending, here)
        if isinstance(result, Exception):
            raise result
        return result

    async def _file_news(self, tags: Sequence[str], period: int) -> None:
        """File clients whose seen period a send changed; a failure only delays that."""
        with contextlib.suppress(Unavailable):
            await self.file_seen(tags, period)

    def _send(
        self, item: Outgoing, plan: tuple[str, str], max_pending: int, scope: Scope, period: int
    ) -> Command:
        tag, notification_id = plan
        return self._script(
            "send",
            tag,
            item.registration_id,
            notification_id,
            item.payload,
            item.ttl_seconds * 1000,
            item.collapse_key or "",
            max_pending,
            ZERO_TTL_GRACE_MS,
            self._node_id,
            scope.packed,
            item.idempotency_key or "",
            period,
        )

    def _ring(
        self, plan: tuple[str, str], item: Outgoing, reply: list[Any]
    ) -> tuple[list[Any], Doorbell | None]:
        """A send's reply without its bus message, having rung the node that holds the
        client's channel if another one (over the bus, the notification with it when it
        can be written at once); and the doorbell when that node is this one."""
        *rest, channel, _ = reply
        if rest[0] != "queued":
            return rest, None
        doorbell = _doorbell(plan, item, rest)
        if channel:
            self.tell(channel, doorbell.message())
        return rest, doorbell if rest[3] else None

    def _ring_stored(self, plan: tuple[str, str], reply: Any) -> None:
        """Ring the channel of a notification that was stored though its answer is an
        error (not replicated in time): over the bus, this node's own channel included."""
        if isinstance(reply, Exception) or reply[0] != "queued":
            return
        # A ring without the notification: a failover may still lose it, and a channel
        # must not move past what its next primary does not have.
        *rest, channel, _ = reply
        doorbell = Doorbell(plan[0]).message()
        if channel:
            self.tell(channel, doorbell)
        if rest[3]:
            self.tell(keys.bus_channel(self._node_id), doorbell)

    async def send_many(
        self, batch: Sequence[Outgoing], max_pending: int, scope: Scope
    ) -> list[Accepted | GatewayError]:
        """Store notifications in order, one pipelined round trip per shard for all.

        An entry whose shard failed is Unavailable on its own (the others were stored
        and are answered); not replicated in time is Unreplicated for the whole batch.
        """
        planned = [_plan(item) for item in batch]
        period = self.period()
        commands = [
            self._send(item, plan, max_pending, scope, period)
            for item, plan in zip(batch, planned, strict=True)
            if plan is not None
        ]
        try:
            replies = iter(await self._replies(commands, durable=True) if commands else [])
        except Unreplicated as short:
            stored = [plan for plan in planned if plan is not None]
            for plan, reply in zip(stored, short.replies, strict=True):
                self._ring_stored(plan, reply)
            raise
        rung = [
            self._ring_entry(plan, item, next(replies)) if plan else (None, None)
            for plan, item in zip(planned, batch, strict=True)
        ]
        news = {p[0] for p, (reply, _) in zip(planned, rung, strict=True) if p and _news(reply)}
        await self._file_news(sorted(news), period)
        return [
            unavailable(reply)
            if isinstance(reply, Exception)
            else _accepted(plan, reply, max_pending, here)
            for plan, (reply, here) in zip(planned, rung, strict=True)
        ]

    def _ring_entry(
        self, plan: tuple[str, str], item: Outgoing, reply: Any
    ) -> tuple[Any, Doorbell | None]:
        """``_ring`` for a batch entry (whose reply may be an error, kept as it is)."""
        return (reply, None) if isinstance(reply, Exception) else self._ring(plan, item, reply)

    def begin_sync(
        self,
        tag: str,
        epoch: int,
        after_seq: int,
        limit: int,
        acks: Mapping[str, bool],
        marks: Sequence[str] = (),
    ) -> asyncio.Future[list[Any]]:
        """Submit one channel step (``end_sync`` reads its reply): record ``marks``
        (notificationIDs written to the channel from a doorbell) as sent, write ``acks``
        (notificationID to delivered (True) or rejected; IDs no longer pending are
        ignored), then read up to ``limit`` notifications after ``after_seq``."""
        outcomes = [arg for nid, ok in acks.items() for arg in (nid, _ACK[ok])]
        command = self._script("sync", tag, epoch, after_seq, limit, len(marks), *marks, *outcomes)
        return self.link.submit([command])

    def end_sync(
        self, done: asyncio.Future[list[Any]], acks: Mapping[str, bool]
    ) -> list[Pending] | None:
        """The notifications a finished ``begin_sync`` read (``done`` may also be
        cancelled or failed), None when the epoch moved on (fenced off); Unavailable
        when Redis failed."""
        try:
            raw = done.result()[0]
        except (asyncio.CancelledError, *FAILURES) as error:
            raise unavailable(error) from error
        if isinstance(raw, Exception):
            raise unavailable(raw) from raw
        fenced, expired, sent = raw[:3]
        metrics.count("expired", expired)
        metrics.count("sent", sent)
        _count_acknowledged(acks, raw[3 : 3 + len(acks)])
        if fenced:
            return None
        rows = raw[3 + len(acks) :]
        return [
            Pending(
                int(rows[i]), rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4], int(rows[i + 5])
            )
            for i in range(0, len(rows), 6)
        ]

    async def pending_after(self, cursors: Sequence[tuple[str, int]]) -> list[int]:
        """For each (tag, seq): how many notifications wait past seq (one round trip)."""
        if not cursors:
            return []
        counts = await self._batch(
            [("ZCOUNT", keys.queue(tag), f"({seq}", "+inf") for tag, seq in cursors]
        )
        return [int(n) for n in counts]

    async def status(self, notification_id: str, scope: Scope) -> NotificationStatus:
        raw = _about_notification(await self._about("status", notification_id, scope.packed))
        metrics.count("expired", raw[1])
        finished = int(raw[5]) if raw[3] not in ("queued", "sent") and raw[5] else None
        return NotificationStatus(notification_id, raw[2], raw[3], int(raw[4]), finished)

    async def cancel(self, notification_id: str, scope: Scope) -> None:
        code, expired = _about_notification(
            await self._about("cancel", notification_id, scope.packed)
        )
        metrics.count("expired", expired)
        if code == 409:
            raise Conflict("notificationID: the notification is already final")
        metrics.count("cancelled")


def _out_of_scope(field: str) -> OutOfScope:
    return OutOfScope(f"{field}: the API key does not cover its application")


def _about_notification(reply: Any) -> Any:
    """The reply of a script about one notification, unless it is unknown (404) or out of
    the API key's scope (403)."""
    if reply is None or reply[0] == 404:
        raise NotFound(UNKNOWN_NOTIFICATION)
    if reply[0] == 403:
        raise _out_of_scope("notificationID")
    return reply


def _news(reply: Any) -> bool:
    """Whether a send's reply says its client's seen period changed."""
    return reply is not None and not isinstance(reply, Exception) and bool(reply[4])


def _count_acknowledged(acks: Mapping[str, bool], accepted_times: list[Any]) -> None:
    now = now_ms()
    for delivered, accepted in zip(acks.values(), accepted_times, strict=True):
        if accepted is None:
            continue
        metrics.count("delivered" if delivered else "rejected")
        if delivered:
            metrics.DELIVERY_LATENCY.observe(max(0, now - int(accepted)) / 1000)


def _plan(item: Outgoing) -> tuple[str, str] | None:
    tag = ids.tag_of(item.registration_id)
    return None if tag is None else (tag, ids.new_id(tag))


def _doorbell(plan: tuple[str, str], item: Outgoing, reply: list[Any]) -> Doorbell:
    """The doorbell of a queued notification: with the notification, unless it has a
    collapseKey (it may be replaced while queued, so it is read and marked sent at once)."""
    if item.collapse_key is not None:
        return Doorbell(plan[0])
    seq, epoch, app, accepted = reply[5:9]
    note = Pending(int(seq), plan[1], item.registration_id, str(app), item.payload, int(accepted))
    return Doorbell(plan[0], int(epoch or 0), note)


def _accepted(
    plan: tuple[str, str] | None, reply: Any, max_pending: int, here: Doorbell | None = None
) -> Accepted | GatewayError:
    if plan is None or reply[0] == 404:
        return NotFound(UNKNOWN_REGISTRATION)
    if reply[0] == 403:
        return _out_of_scope("registrationID")
    if reply[0] == "replayed":
        return Accepted(reply[5], "queued", replayed=True)
    status, expired, replaced = reply[:3]
    metrics.count("expired", expired)
    metrics.count("cancelled", replaced)
    if status == 429:
        return TooManyRequests(
            f"registrationID: the client has {max_pending} pending notifications"
        )
    metrics.count("accepted")
    if status == "expired":
        metrics.count("expired")
    return Accepted(plan[1], status, here)
