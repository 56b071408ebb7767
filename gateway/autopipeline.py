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

# Queues one or more commands on the pipeline it is given.
Filler = Callable[[Any], object]
MAX_BATCH = 1000


class AutoPipeline:
    """Coalesces concurrently issued commands into pipelines of at most MAX_BATCH."""

    def __init__(self, client: redis.Redis, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._queue: list[tuple[Filler, asyncio.Future[list[Any]]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    def submit(self, fill: Filler) -> asyncio.Future[list[Any]]:
        """Queue the commands ``fill`` adds; the future gets their replies (errors in place)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if not self._queue:
            asyncio.get_running_loop().call_soon(self._flush)
        self._queue.append((fill, future))
        return future

    def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            task = asyncio.create_task(self._run(batch))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _run(self, batch: list[tuple[Filler, asyncio.Future[list[Any]]]]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.pipeline(transaction=False) as pipe:
                    counts = [_queued(pipe, fill) for fill, _ in batch]
                    replies = await pipe.execute(raise_on_error=False)
        except BaseException as error:
            if isinstance(error, RedisConnectionError | OSError | TimeoutError):
                # Pooled connections may all be stale (Redis restarted): drop the idle ones.
                await self._client.connection_pool.disconnect(inuse_connections=False)
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(error, Exception):
                    future.set_exception(error)
                else:
                    future.cancel()
            if not isinstance(error, Exception):
                raise
            return
        start = 0
        for (_, future), count in zip(batch, counts, strict=True):
            if not future.done():
                future.set_result(replies[start : start + count])
            start += count

    async def close(self) -> None:
        for task in list(self._flushing):
            task.cancel()
        await asyncio.gather(*self._flushing, return_exceptions=True)


def _queued(pipe: Any, fill: Filler) -> int:
    before = len(pipe.command_stack)
    fill(pipe)
    return len(pipe.command_stack) - before
