"""Automatic pipelining: Redis commands issued in one event-loop turn share one round trip.

Under load hundreds of sends, fetches and acknowledgements are issued at about
the same time; sending them as one pipeline costs one pool checkout, one write
and one read instead of one each, which is most of the client-side cost of a
command in redis-py. Each batch is bounded by a timeout; when it runs out, or
the connection fails, every command of the batch fails with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

# Queues one or more commands on the pipeline it is given.
Filler = Callable[[Any], object]
Batch = list[tuple[Filler, "asyncio.Future[list[Any]]"]]
MAX_BATCH = 1000
# Pipelines in flight at once. The connection pool allows more (POOL_SIZE): an
# exchange that outlived its deadline keeps its connection until Redis answers.
MAX_IN_FLIGHT = 16
POOL_SIZE = 4 * MAX_IN_FLIGHT


class AutoPipeline:
    """Coalesces concurrently issued commands into pipelines of at most MAX_BATCH,
    at most MAX_IN_FLIGHT of them at a time (the rest wait, still coalescing)."""

    def __init__(self, client: redis.Redis, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._queue: Batch = []
        self._scheduled = False
        self._running: set[asyncio.Task[None]] = set()

    def submit(self, fill: Filler) -> asyncio.Future[list[Any]]:
        """Queue the commands ``fill`` adds; the future gets their replies (errors in place)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._queue.append((fill, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        while self._queue and len(self._running) < MAX_IN_FLIGHT:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._queue and not self._scheduled:
            self._flush()

    async def _run(self, batch: Batch) -> None:
        # The exchange itself is never cancelled: redis-py can lose a pooled connection
        # when cancelled at the wrong moment. A late exchange is left to finish alone.
        exchange = asyncio.ensure_future(self._exchange(batch))
        try:
            async with asyncio.timeout(self._timeout):
                counts, replies = await asyncio.shield(exchange)
        except BaseException as error:
            exchange.add_done_callback(_consume)
            if _connection_refused(error) or isinstance(error, TimeoutError):
                # Pooled connections may all be stale (Redis restarted): drop the idle ones.
                # Fail what waits too: it would meet the same refusal or silence, and the
                # contract wants an answer within two seconds.
                await self._client.connection_pool.disconnect(inuse_connections=False)
                batch, self._queue = batch + self._queue, []
            _fail(batch, error)
            if not isinstance(error, Exception):
                raise
            return
        start = 0
        for (_, future), count in zip(batch, counts, strict=True):
            if not future.done():
                future.set_result(replies[start : start + count])
            start += count

    async def _exchange(self, batch: Batch) -> tuple[list[int], list[Any]]:
        async with self._client.pipeline(transaction=False) as pipe:
            counts = [_queued(pipe, fill) for fill, _ in batch]
            return counts, await pipe.execute(raise_on_error=False)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


def _connection_refused(error: BaseException) -> bool:
    if isinstance(error, MaxConnectionsError):
        return False  # our own pool is busy, Redis is fine
    return isinstance(error, RedisConnectionError | OSError)


def _consume(exchange: asyncio.Future[Any]) -> None:
    if not exchange.cancelled():
        exchange.exception()  # retrieved: a late failure is not worth a warning


def _fail(batch: Batch, error: BaseException) -> None:
    for _, future in batch:
        if future.done():
            continue
        if isinstance(error, Exception):
            future.set_exception(error)
        else:
            future.cancel()


def _queued(pipe: Any, fill: Filler) -> int:
    before = len(pipe.command_stack)
    fill(pipe)
    return len(pipe.command_stack) - before
