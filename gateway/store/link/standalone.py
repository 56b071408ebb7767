"""Standalone Redis (``--redis-url``: ``redis://``, ``rediss://``, ``unix://``): one lane.

Connections come from one redis-py pool. When one breaks (Redis restarted), the
idle ones are dropped too, so that the next exchange reconnects rather than
meeting another stale socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from gateway.store.link.base import Link, LinkOptions, Subscription
from gateway.store.link.lane import POOL_SIZE, Command, Connection, Lane
from gateway.store.packing import PackedConnection


class PoolSource:
    """A lane's connections from a redis-py connection pool."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self._tasks: set[asyncio.Task[None]] = set()

    async def acquire(self) -> Connection:
        return cast(Connection, await self.pool.get_connection())  # type: ignore[no-untyped-call]

    async def release(self, connection: Connection) -> None:
        await self.pool.release(cast(Any, connection))

    def broken(self, error: BaseException) -> None:
        if isinstance(error, RedisConnectionError | OSError):
            task = asyncio.create_task(self.pool.disconnect(inuse_connections=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


class PubSubSubscription(Subscription):
    """A channel subscribed with SUBSCRIBE on a client of its own."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._pubsub: PubSub = client.pubsub(ignore_subscribe_messages=True)

    async def open(self) -> None:
        await self._pubsub.subscribe(self._channel)

    async def next_message(self, timeout: float) -> str | None:
        message = await self._pubsub.get_message(timeout=timeout)
        return None if message is None else str(message["data"])

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self._pubsub.aclose()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self._client.aclose()


def redis_address(url: str) -> str:
    """The Redis URL without credentials, fit for logs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


class StandaloneLink(Link):
    """One Redis server."""

    def __init__(self, url: str, options: LinkOptions) -> None:
        super().__init__(options, redis_address(url))
        self._url = url
        # hiredis packing on plain TCP; for rediss:// and unix:// redis-py's own class (a
        # connection_class given here would replace it: newer redis-py let it win).
        packed: dict[str, Any] = (
            {"connection_class": PackedConnection} if urlsplit(url).scheme == "redis" else {}
        )
        # No read timeout per reply: every exchange is bounded as a whole by the lane.
        pool = redis.ConnectionPool.from_url(
            url,
            password=options.password,
            max_connections=POOL_SIZE,
            socket_timeout=None,
            socket_connect_timeout=options.timeout,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
            **packed,
        )
        self._pool = pool
        self._lane = Lane(self.address, PoolSource(pool), self)

    def route(self, command: Command) -> Lane:
        return self._lane

    def primaries(self) -> list[Lane]:
        return [self._lane]

    def subscription(self, channel: str) -> Subscription:
        client = redis.Redis.from_url(
            self._url,
            password=self.options.password,
            socket_connect_timeout=self.options.timeout,
            decode_responses=True,
        )
        return PubSubSubscription(client, channel)

    async def close(self) -> None:
        await super().close()
        await self._lane.close()
        await self._pool.aclose()
