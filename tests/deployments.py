"""The Redis deployment a test runs on, as the test sees it: the node's options and a
redis-py client for looking behind the node's back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis as sync_redis
import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from gateway.bench.topology import Cluster


@dataclass(frozen=True)
class Deployment:
    mode: str
    node_args: list[str]
    url: str | None = None  # standalone
    cluster: Cluster | None = None

    @classmethod
    def of_standalone(cls, url: str) -> Deployment:
        return cls("standalone", ["--redis-url", url], url=url)

    @classmethod
    def of_cluster(cls, cluster: Cluster) -> Deployment:
        return cls("cluster", cluster.node_args(), cluster=cluster)

    def flush(self) -> None:
        """Remove every key (scripts stay loaded), so tests sharing it start empty."""
        if self.cluster is None:
            assert self.url is not None
            with sync_redis.Redis.from_url(self.url, socket_timeout=5) as client:
                client.flushall()
            return
        for primary in self.cluster.primaries():
            primary.command("FLUSHALL")

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[Any]:
        """A redis-py client of the deployment (a cluster client on Cluster)."""
        if self.cluster is None:
            assert self.url is not None
            client: Any = redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)
        else:
            nodes = [ClusterNode(host, port) for host, port in self.cluster.startup_nodes]
            client = RedisCluster(startup_nodes=nodes, decode_responses=True, socket_timeout=5)
        try:
            yield client
        finally:
            await client.aclose()

    async def kill_pubsub_clients(self, client: Any) -> None:
        """Make Redis drop every subscriber connection (doorbells in flight are lost)."""
        if self.cluster is None:
            await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        else:
            await client.execute_command(
                "CLIENT KILL", "TYPE", "pubsub", target_nodes=RedisCluster.ALL_NODES
            )

    @contextlib.asynccontextmanager
    async def listener(self, channel: str) -> AsyncIterator[Any]:
        """A pub/sub subscription to a node's bus channel, as the node subscribes it."""
        if self.cluster is None:
            assert self.url is not None
            client = redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)
        else:
            port = self.cluster.primary(channel).port
            client = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            if self.cluster is None:
                await pubsub.subscribe(channel)
            else:
                await pubsub.ssubscribe(channel)
            yield pubsub
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()
