"""Redis behind Sentinels (``--redis-sentinel``): one lane on the current primary.

redis-py's Sentinel client finds the primary: every new connection asks the
Sentinels for its address, and a connection to a demoted primary is dropped. A
broken connection drops the pool's idle ones, so the next exchange asks again.
The Sentinels are reached without a password; ``--redis-password`` is the data
servers'.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import NoBackoff

from gateway.runtime import metrics
from gateway.store.link.base import Link, LinkOptions, Subscription
from gateway.store.link.lane import POOL_SIZE, Command, Connection, Lane
from gateway.store.link.standalone import PoolSource, PubSubSubscription
from gateway.store.packing import PackedConnection

log = logging.getLogger("gateway.store.link")


class PackedSentinelConnection(SentinelManagedConnection, PackedConnection):
    """Sentinel-managed (asks the Sentinels on connect), packed by hiredis."""


def parse_addresses(addresses: str) -> list[tuple[str, int]]:
    """``HOST:PORT[,HOST:PORT...]`` as (host, port) pairs."""
    pairs = []
    for entry in addresses.split(","):
        host, _, port = entry.strip().rpartition(":")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


class SentinelSource(PoolSource):
    """Connections to the primary the Sentinels name; counts each change of primary."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        super().__init__(pool)
        self._seen: Any = None  # the primary's address last connected to

    async def acquire(self) -> Connection:
        connection = await super().acquire()
        address = getattr(self.pool, "master_address", None)
        if address is not None and address != self._seen:
            if self._seen is not None:
                metrics.REDIS_FAILOVERS.inc()
                log.warning("redis primary changed", extra={"redis": f"{address[0]}:{address[1]}"})
            self._seen = address
        return connection


class SentinelLink(Link):
    """A primary and its replicas, watched by Sentinels."""

    def __init__(self, addresses: str, service: str, options: LinkOptions) -> None:
        super().__init__(options, f"sentinel://{addresses}/{service}")
        timeout = options.timeout
        no_retry = Retry(NoBackoff(), 0)
        self._sentinel = Sentinel(
            parse_addresses(addresses),
            sentinel_kwargs={
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                "retry": no_retry,
            },
        )
        self._service = service
        self._client_options: dict[str, Any] = {
            "password": options.password,
            "decode_responses": True,
            "socket_connect_timeout": timeout,
            "retry": no_retry,
            "connection_class": PackedSentinelConnection,
        }
        self._primary = self._client(max_connections=POOL_SIZE, socket_timeout=None)
        self._lane = Lane(self.address, SentinelSource(self._primary.connection_pool), self)

    def _client(self, **options: Any) -> redis.Redis:
        client: redis.Redis = self._sentinel.master_for(
            self._service, **self._client_options, **options
        )
        return client

    def route(self, command: Command) -> Lane:
        return self._lane

    def primaries(self) -> list[Lane]:
        return [self._lane]

    def subscription(self, channel: str) -> Subscription:
        # A client of its own, so the bus never takes a connection the lane counts on.
        return PubSubSubscription(self._client(), channel)

    async def close(self) -> None:
        await super().close()
        await self._lane.close()
        await self._primary.aclose()
        await self._sentinel.aclose()
