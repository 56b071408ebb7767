"""The link to Redis: what every deployment offers the store and the node bus.

A submission is a list of commands (plain tuples, e.g. ``("EVALSHA", sha, 1,
key, ...)``). Everything submitted within one event-loop turn is routed at the
end of the turn, one lane per primary, and each lane sends what it got as one
pipeline: one primary in standalone and Sentinel, one per shard in Cluster.
Replies come back in order, errors in place. Every submission is answered within
the link's deadline (1.5 x ``--redis-timeout``), a reply not in by then as
TimeoutError in place (so one slow shard does not fail the others' replies); the
deadlines are kept by one timer for all.

The kinds (``standalone.py``, ``sentinel.py``, ``cluster.py``) differ only in
where a command goes, where connections come from and how a broken one is
followed (reconnect, ask the Sentinels, re-read the slot map): the discovery
itself is redis-py's own.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    MovedError,
    RedisError,
    TryAgainError,
)

from gateway.store.link.lane import Command, Entry, Lane, NotReplicated, Submission

__all__ = ["Link", "LinkOptions", "NotReplicated", "Subscription"]

log = logging.getLogger("gateway.store.link")
MAX_QUEUED = 20000  # commands waiting, per turn and per primary: beyond, an error at once
MAX_REDIRECTS = 2
_SWEEP_PERIOD = 0.05
# Replies that say the deployment is changing under us: follow it.
TRANSIENT = (ClusterDownError, TryAgainError, BusyLoadingError)


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """What every kind of link is configured with besides where Redis is."""

    password: str | None
    timeout: float  # seconds: connects, WAIT; 1.5 x bounds every exchange
    wait_replicas: int
    scripts: Mapping[str, str]  # SHA1 -> source, loaded on every primary


class Subscription(ABC):
    """One pub/sub channel of the node bus, on a connection of its own."""

    @abstractmethod
    async def open(self) -> None:
        """Subscribe (raises RedisError or OSError when it cannot)."""

    @abstractmethod
    async def next_message(self, timeout: float) -> str | None:
        """The next message on the channel, None when none came within ``timeout``."""

    @abstractmethod
    async def close(self) -> None: ...


class Link(ABC):
    """Auto-pipelined commands to one Redis deployment."""

    #: PUBLISH, or SPUBLISH where a channel lives on one shard.
    publish_verb = "PUBLISH"

    def __init__(self, options: LinkOptions, address: str) -> None:
        self.options = options
        self.deadline = options.timeout * 1.5
        self.wait_replicas = options.wait_replicas
        # WAIT gets most of --redis-timeout: Redis checks its timeout on a 100 ms timer,
        # and the exchange around it must still end within the deadline.
        self.wait_ms = max(1, int(options.timeout * 800))
        self.scripts = options.scripts
        self.address = address  # for logs: no credentials
        self.on_recovered: Callable[[], None] = lambda: None
        self._waiting: list[Entry] = []
        self._scheduled = False
        self._deadlines: deque[Submission] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._degraded = False
        self._redirects: set[asyncio.Task[None]] = set()

    # What each kind provides.

    @abstractmethod
    def route(self, command: Command) -> Lane:
        """The lane of the primary that serves ``command``."""

    @abstractmethod
    def primaries(self) -> list[Lane]:
        """One lane per primary (per shard)."""

    @abstractmethod
    def subscription(self, channel: str) -> Subscription:
        """A subscription to ``channel`` (not yet open)."""

    async def connect(self) -> None:
        """Discover the deployment now (at start) rather than on first use."""
        return None

    def follow(self, error: BaseException) -> None:
        """A reply or a connection says the deployment changed: catch up with it."""
        return None

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    # Submitting.

    def submit(
        self, commands: Sequence[Command], durable: bool = False
    ) -> asyncio.Future[list[Any]]:
        """Queue ``commands``; the future gets their replies, or NotReplicated when
        ``durable`` and the WAIT after them fell short."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not commands:
            future.set_result([])
            return future
        if len(self._waiting) >= MAX_QUEUED:
            future.set_exception(TimeoutError("too many Redis commands waiting"))
            return future
        submission = Submission(future, len(commands), durable, loop.time() + self.deadline)
        self._waiting += [Entry(submission, i, command) for i, command in enumerate(commands)]
        self._arm(loop, submission)
        return future

    def submit_each(self, lanes: Sequence[Lane], command: Command) -> asyncio.Future[list[Any]]:
        """Send ``command`` to each of ``lanes`` (e.g. PING every primary)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        submission = Submission(future, len(lanes), False, loop.time() + self.deadline)
        for index, lane in enumerate(lanes):
            lane.queue.append(Entry(submission, index, command))
            lane.flush()
        if not lanes:
            future.set_result([])
        self._arm(loop, submission)
        return future

    def _arm(self, loop: asyncio.AbstractEventLoop, submission: Submission) -> None:
        self._deadlines.append(submission)
        if self._sweeper is None:
            self._sweeper = loop.call_later(_SWEEP_PERIOD, self._sweep)
        if not self._scheduled and self._waiting:
            self._scheduled = True
            loop.call_soon(self._dispatch)

    def _sweep(self) -> None:
        """Answer what has outlived its deadline, the missing replies as errors in place
        (deadlines are in submission order)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines and (deadlines[0].future.done() or deadlines[0].deadline <= now):
            submission = deadlines.popleft()
            if not submission.future.done():
                self._degraded = True  # a reply may be lost: what it would have rung too
                submission.finish()
        self._sweeper = loop.call_later(_SWEEP_PERIOD, self._sweep) if self._deadlines else None

    def _dispatch(self) -> None:
        """End of the turn: hand every waiting command to its primary's lane."""
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        touched: dict[int, Lane] = {}
        for entry in waiting:
            if not entry.submission.future.done():
                self._enqueue(entry, touched)
        for lane in touched.values():
            lane.flush()

    def _enqueue(self, entry: Entry, touched: dict[int, Lane]) -> None:
        try:
            lane = self.route(entry.command)
        except RedisError as error:  # e.g. a slot no primary covers
            self.follow(error)
            self.settle(entry, error)
            return
        if len(lane.queue) >= MAX_QUEUED:
            lane.queue = [waiting for waiting in lane.queue if not waiting.submission.future.done()]
            if len(lane.queue) >= MAX_QUEUED:
                self.settle(entry, TimeoutError("too many Redis commands waiting"))
                return
        lane.queue.append(entry)
        touched[id(lane)] = lane

    # Answers (called by the lanes).

    def settle(self, entry: Entry, reply: Any) -> None:
        """One reply: redirected if it says so, otherwise stored in place."""
        if isinstance(reply, MovedError | AskError) and entry.redirects < MAX_REDIRECTS:
            task = asyncio.create_task(self._redirect(entry, reply))
            self._redirects.add(task)
            task.add_done_callback(self._redirects.discard)
            return
        if isinstance(reply, TRANSIENT):
            self._degraded = True
            self.follow(reply)
        entry.submission.settle(entry.index, reply)

    def replied(self, lane: Lane, failed: bool) -> None:
        """A lane's exchange ended; a failure marks the link degraded until every
        primary answers PING again (see ``ping``)."""
        if failed:
            self._degraded = True

    async def _redirect(self, entry: Entry, error: MovedError | AskError) -> None:
        """A MOVED or ASK reply: the command did not run; send it where it belongs."""
        entry.redirects += 1
        try:
            lane = await self.redirected(entry, error)
        except RedisError as failure:
            self.settle(entry, failure)
            return
        lane.queue.append(entry)
        lane.flush()

    async def redirected(self, entry: Entry, error: MovedError | AskError) -> Lane:
        """The lane a redirected command goes to (only Cluster redirects)."""
        raise error

    # Conveniences.

    async def ping(self) -> None:
        """Every primary answers PING (raises the first error otherwise).

        The first full answer after the link was degraded (a failed exchange, a reply
        lost to the deadline, a failover reply) calls ``on_recovered`` once: doorbells
        may have been lost meanwhile, so every channel re-reads its queue. Once per
        recovery of the whole deployment, not per exchange: a shard that stays down
        does not make the node re-read every queue again and again.
        """
        primaries = self.primaries()
        if not primaries:
            raise RedisError("no Redis primary known yet")
        degraded = self._degraded
        _raise_first(await self.submit_each(primaries, ("PING",)))
        if degraded and self._degraded:
            self._degraded = False
            log.info("redis link recovered")
            self.on_recovered()

    async def load_scripts(self) -> None:
        """Load every script on every primary."""
        for source in self.scripts.values():
            _raise_first(await self.submit_each(self.primaries(), ("SCRIPT", "LOAD", source)))

    def colocated(self, *keys: str) -> bool:
        """Whether ``keys`` live on one primary now (always, but on Cluster), so that
        commands on them sent in one pipeline run in the order sent."""
        try:
            lanes = {id(self.route(("GET", key))) for key in keys}
        except RedisError:
            return False
        return len(lanes) == 1

    def publish(self, channel: str, message: str) -> Command:
        """The command that publishes ``message`` on a node-bus channel."""
        return (self.publish_verb, channel, message)


def _raise_first(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
