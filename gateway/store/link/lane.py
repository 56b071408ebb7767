"""One lane: the auto-pipeline of one Redis primary.

Every command routed to the primary within one event-loop turn travels in one
pipeline: one connection checkout, one write (packed by hiredis), one read loop.
At most MAX_IN_FLIGHT pipelines are in flight per primary, so at most that many
of its connections are busy; an exchange that outlives the link's deadline is
abandoned and its connection dropped (it is in an unknown state).

Replies come back in place, errors included. Within the exchange, a NOSCRIPT
reply (the primary lost its scripts: it was restarted, flushed or just promoted)
loads every script and sends exactly the commands that were refused once more;
a refused script did not run, so it cannot run twice. With ``wait_replicas``
the pipeline ends with one ``WAIT`` when it carries a write whose answer must
wait for replication, on the same connection, after those writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import hiredis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from gateway.runtime import metrics
from gateway.store.packing import pack

Command = tuple[Any, ...]
MAX_BATCH = 1000
MAX_IN_FLIGHT = 16
# The pool needs one connection per pipeline in flight, and a few for the bus and probes.
POOL_SIZE = MAX_IN_FLIGHT + 4
_ASKING = hiredis.pack_command(("ASKING",))


UNANSWERED = TimeoutError("Redis did not answer in time")
ANSWERED = object()  # in a lane's replies: settled already


class NotReplicated(RedisError):
    """Written, but fewer replicas than ``--redis-wait-replicas`` acknowledged in time."""

    def __init__(self, replies: list[Any]) -> None:
        super().__init__("not replicated in time")
        self.replies = replies


class Submission:
    """What one caller asked for: its replies fill in as the lanes answer."""

    __slots__ = ("deadline", "durable", "future", "remaining", "replies", "short")

    def __init__(
        self, future: asyncio.Future[list[Any]], count: int, durable: bool, deadline: float
    ) -> None:
        self.future = future
        # A reply not in by the deadline stays UNANSWERED: an error in place.
        self.replies: list[Any] = [UNANSWERED] * count
        self.remaining = count
        self.durable = durable
        self.deadline = deadline
        self.short = False  # a WAIT covering its writes fell short

    def settle(self, index: int, reply: Any) -> None:
        if self.replies[index] is not UNANSWERED:
            return  # answered early (before the pipeline's WAIT), then the exchange failed
        self.replies[index] = reply
        self.remaining -= 1
        if self.remaining == 0:
            self.finish()

    def finish(self) -> None:
        """Answer the caller with what is in (at the latest, at the deadline)."""
        if self.future.done():
            return
        if self.remaining:  # the deadline passed: each missing reply its own error
            self.replies = [
                TimeoutError("Redis did not answer in time") if r is UNANSWERED else r
                for r in self.replies
            ]
        if self.short:
            metrics.REDIS_WAIT_SHORTFALLS.inc()
            self.future.set_exception(NotReplicated(self.replies))
        else:
            self.future.set_result(self.replies)


@dataclass(slots=True)
class Entry:
    """One command of a submission, on its way to a primary."""

    submission: Submission
    index: int
    command: Command
    redirects: int = 0
    asking: bool = False


class Connection(Protocol):
    """What a lane needs of a redis-py connection."""

    async def send_packed_command(self, command: bytes, check_health: bool = True) -> None: ...

    async def read_response(self) -> Any: ...

    async def disconnect(self) -> None: ...


class Source(Protocol):
    """Where a lane gets its connections, and what it does when one breaks."""

    async def acquire(self) -> Connection: ...

    async def release(self, connection: Connection) -> None: ...

    def broken(self, error: BaseException) -> None: ...


class Owner(Protocol):
    """The link a lane answers to."""

    deadline: float  # seconds an exchange may take
    wait_replicas: int
    wait_ms: int
    scripts: Mapping[str, str]

    def settle(self, entry: Entry, reply: Any) -> None: ...

    def replied(self, lane: Lane, failed: bool) -> None: ...


class Lane:
    """The auto-pipeline of one primary."""

    __slots__ = ("_exchanges", "_in_flight", "_owner", "exchanges", "name", "queue", "source")

    def __init__(self, name: str, source: Source, owner: Owner) -> None:
        self.name = name
        self.source = source
        self._owner = owner
        self.queue: list[Entry] = []
        self._in_flight = 0
        self._exchanges: set[asyncio.Task[None]] = set()
        self.exchanges = 0  # pipelines sent so far

    def flush(self) -> None:
        """Start pipelines for what is queued, as far as the in-flight bound allows."""
        while self.queue and self._in_flight < MAX_IN_FLIGHT:
            cut = _cut(self.queue)
            batch = [e for e in self.queue[:cut] if not e.submission.future.done()]
            self.queue = self.queue[cut:]
            if batch:
                self._in_flight += 1
                self.exchanges += 1
                task = asyncio.create_task(self._exchange(batch))
                self._exchanges.add(task)
                task.add_done_callback(self._exchanges.discard)

    async def _exchange(self, batch: list[Entry]) -> None:
        replies: list[Any]
        failed = False
        try:
            async with asyncio.timeout(self._owner.deadline):
                replies = await self._run(batch)
        except (RedisError, OSError, TimeoutError) as error:
            failed = True
            self.source.broken(error)
            # What waits here would meet the same refusal: fail it too.
            batch, self.queue = batch + self.queue, []
            replies = [error] * len(batch)
        finally:
            self._in_flight -= 1
            if self.queue:
                self.flush()
        self._owner.replied(self, failed)
        for entry, reply in zip(batch, replies, strict=True):
            if reply is not ANSWERED:
                self._owner.settle(entry, reply)

    async def _run(self, batch: list[Entry]) -> list[Any]:
        connection = await self.source.acquire()
        try:
            durable = self._owner.wait_replicas > 0 and any(e.submission.durable for e in batch)
            replies = await self._round_trip(connection, batch, durable)
            refused = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if refused:
                retried = await self._round_trip(
                    connection, [batch[i] for i in refused], durable, reload=True
                )
                for i, reply in zip(refused, retried, strict=True):
                    replies[i] = reply
            return replies
        finally:
            await self.source.release(connection)

    async def _round_trip(
        self, connection: Connection, batch: Sequence[Entry], durable: bool, reload: bool = False
    ) -> list[Any]:
        """Send the batch as one pipeline (after the scripts if ``reload``); its replies."""
        scripts = self._owner.scripts.values() if reload else ()
        parts = [pack(("SCRIPT", "LOAD", source)) for source in scripts]
        for entry in batch:
            if entry.asking:
                parts.append(_ASKING)
            parts.append(pack(entry.command))
        if durable:
            parts.append(pack(("WAIT", self._owner.wait_replicas, self._owner.wait_ms)))
        await connection.send_packed_command(b"".join(parts), check_health=False)
        for _ in scripts:
            await _reply(connection)
        replies = []
        for entry in batch:
            if entry.asking:
                await _reply(connection)
            replies.append(await _reply(connection))
        if durable:
            self._answer_before_wait(batch, replies)
            acknowledged = await _reply(connection)
            if not isinstance(acknowledged, int) or acknowledged < self._owner.wait_replicas:
                for entry in batch:
                    entry.submission.short = entry.submission.short or entry.submission.durable
        return replies

    def _answer_before_wait(self, batch: Sequence[Entry], replies: list[Any]) -> None:
        """Answer what need not wait for replication now, not after the WAIT (which
        takes its whole timeout while a replica is down)."""
        for index, (entry, reply) in enumerate(zip(batch, replies, strict=True)):
            if not entry.submission.durable and not isinstance(reply, NoScriptError):
                self._owner.settle(entry, reply)
                replies[index] = ANSWERED

    async def close(self) -> None:
        for task in list(self._exchanges):
            task.cancel()
        await asyncio.gather(*self._exchanges, return_exceptions=True)


def _cut(queue: list[Entry]) -> int:
    """Where the next pipeline ends: after MAX_BATCH commands, but never inside one
    submission, whose commands must run in the order given (one connection)."""
    cut = min(MAX_BATCH, len(queue))
    while cut < len(queue) and queue[cut].submission is queue[cut - 1].submission:
        cut += 1
    return cut


async def _reply(connection: Connection) -> Any:
    """One reply; an error reply comes back as the exception, in place."""
    try:
        return await connection.read_response()
    except ResponseError as error:
        return error
