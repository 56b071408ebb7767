"""Automatic pipelining: Redis commands issued in one event-loop turn share one round trip.

Under load hundreds of sends, reads and acknowledgements are issued at about the
same time; sending them as one pipeline costs one pool checkout, one write and
one read instead of one each, which is most of the client-side cost of a command
in redis-py.

Bounds: at most MAX_IN_FLIGHT pipelines are in flight (so at most that many
connections are busy), at most MAX_QUEUED submissions wait, and every
submission is answered within ``timeout`` of being made, by its reply or by
TimeoutError. Deadlines are enforced by one timer for all submissions rather
than one per command, and an exchange is never cancelled half-way (redis-py can
lose a pooled connection then): a late reply is simply dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

# Queues one or more commands on the pipeline it is given.
Filler = Callable[[Any], object]
Batch = list[tuple[Filler, "asyncio.Future[list[Any]]"]]
MAX_BATCH = 1000
MAX_IN_FLIGHT = 16
MAX_QUEUED = 20000
# The pool needs one connection per pipeline in flight, and a few for script loading.
POOL_SIZE = MAX_IN_FLIGHT + 4
_SWEEP_PERIOD = 0.05


class AutoPipeline:
    """Coalesces concurrently submitted commands into bounded pipelines."""

    def __init__(self, client: redis.Redis, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._queue: Batch = []
        self._scheduled = False
        self._in_flight = 0
        self._deadlines: deque[tuple[float, asyncio.Future[list[Any]]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._exchanges: set[asyncio.Task[None]] = set()

    def submit(self, fill: Filler) -> asyncio.Future[list[Any]]:
        """Queue the commands ``fill`` adds; the future gets their replies (errors in place)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if len(self._queue) >= MAX_QUEUED:
            self._queue = [entry for entry in self._queue if not entry[1].done()]
            if len(self._queue) >= MAX_QUEUED:
                future.set_exception(TimeoutError("too many Redis commands waiting"))
                return future
        self._queue.append((fill, future))
        self._deadlines.append((loop.time() + self._timeout, future))
        if self._sweeper is None:
            self._sweeper = loop.call_later(_SWEEP_PERIOD, self._sweep)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _sweep(self) -> None:
        """Fail what has outlived its deadline (deadlines are in submission order)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._deadlines and (self._deadlines[0][1].done() or self._deadlines[0][0] <= now):
            _, future = self._deadlines.popleft()
            if not future.done():
                future.set_exception(TimeoutError("Redis did not answer in time"))
        self._sweeper = loop.call_later(_SWEEP_PERIOD, self._sweep) if self._deadlines else None

    def _flush(self) -> None:
        self._scheduled = False
        while self._queue and self._in_flight < MAX_IN_FLIGHT:
            batch = [entry for entry in self._queue[:MAX_BATCH] if not entry[1].done()]
            self._queue = self._queue[MAX_BATCH:]
            if batch:
                self._in_flight += 1
                task = asyncio.create_task(self._exchange(batch))
                self._exchanges.add(task)
                task.add_done_callback(self._exchanges.discard)

    async def _exchange(self, batch: Batch) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                counts = [_queued(pipe, fill) for fill, _ in batch]
                replies = await pipe.execute(raise_on_error=False)
        except Exception as error:
            if isinstance(error, RedisConnectionError | OSError):
                # Pooled connections may all be stale (Redis restarted): drop the idle ones,
                # and fail what waits too: it would meet the same refusal.
                await self._client.connection_pool.disconnect(inuse_connections=False)
                batch, self._queue = batch + self._queue, []
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            self._in_flight -= 1
            if self._queue and not self._scheduled:
                self._flush()
        start = 0
        for (_, future), count in zip(batch, counts, strict=True):
            if not future.done():
                future.set_result(replies[start : start + count])
            start += count

    async def close(self) -> None:
        for task in list(self._exchanges):
            task.cancel()
        await asyncio.gather(*self._exchanges, return_exceptions=True)
        if self._sweeper is not None:
            self._sweeper.cancel()


def _queued(pipe: Any, fill: Filler) -> int:
    before = len(pipe.command_stack)
    fill(pipe)
    return len(pipe.command_stack) - before
