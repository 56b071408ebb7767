"""Redis Cluster (``--redis-cluster``): one lane per shard primary.

redis-py's cluster client keeps the slot map (``NodesManager``: CLUSTER SLOTS
from the known nodes, dead ones tried last) and the per-node connection pools;
the lanes route each command by the slot of its key and send their own
pipelines over those pools. redis-py's cluster pipeline is not used: its retry
re-runs commands that already ran (a script stored twice) and one refused shard
fails every shard's commands.

Following the deployment: a broken connection, CLUSTERDOWN or an uncovered slot
re-reads the slot map (one refresh at a time, at most every 0.2 s); MOVED and
ASK send that one command to the node named (it did not run where it was
refused). The node bus uses sharded pub/sub on the primary of its channel's
slot: SPUBLISH reaches only that shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.runtime import metrics
from gateway.store.link.base import Link, LinkOptions, Subscription
from gateway.store.link.lane import POOL_SIZE, Command, Connection, Entry, Lane
from gateway.store.link.sentinel import parse_addresses
from gateway.store.packing import PackedConnection

log = logging.getLogger("gateway.store.link")
_REFRESH_EVERY = 0.2


def routing_key(command: Command) -> str:
    """The key (or sharded channel) a command is about: EVALSHA's first key, else argument 1."""
    return str(command[3] if command[0] == "EVALSHA" else command[1])


class NodeSource:
    """A lane's connections from one cluster node's pool."""

    def __init__(self, node: ClusterNode, link: ClusterLink) -> None:
        self.node = node
        self._link = link

    async def acquire(self) -> Connection:
        return cast(Connection, self.node.acquire_connection())

    async def release(self, connection: Connection) -> None:
        self.node.release(cast(Any, connection))

    def broken(self, error: BaseException) -> None:
        self.node.update_active_connections_for_reconnect()
        self._link.spawn(self.node.disconnect_free_connections())
        self._link.nodes.move_node_to_end_of_cached_nodes(self.node.name)
        self._link.follow(error)


class ShardedSubscription(Subscription):
    """A channel subscribed with SSUBSCRIBE on a connection to its slot's primary."""

    def __init__(self, link: ClusterLink, channel: str) -> None:
        self._link = link
        self._channel = channel
        self._client: redis.Redis | None = None
        self._pubsub: PubSub | None = None

    async def open(self) -> None:
        try:
            node = self._link.primary_of(self._channel)
        except RedisError as error:
            self._link.follow(error)
            raise
        self._client = redis.Redis(
            host=node.host, port=int(node.port), **self._link.node_options, decode_responses=True
        )
        self._pubsub = self._client.pubsub()
        try:
            await self._pubsub.ssubscribe(self._channel)
        except (RedisError, OSError) as error:
            self._link.follow(error)
            raise

    async def next_message(self, timeout: float) -> str | None:
        assert self._pubsub is not None
        try:
            message = await self._pubsub.get_message(timeout=timeout)
        except (RedisError, OSError) as error:
            self._link.follow(error)
            raise
        if message is None or message["type"] == "ssubscribe":
            return None
        if message["type"] == "sunsubscribe":  # the slot moved to another shard
            self._link.follow(ConnectionError("slot moved"))
            raise RedisConnectionError(f"{self._channel}: unsubscribed by the server")
        return str(message["data"])

    async def close(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await self._pubsub.aclose()
        if self._client is not None:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await self._client.aclose()


class ClusterLink(Link):
    """Three or more shards, each a primary with its replicas."""

    publish_verb = "SPUBLISH"

    def __init__(self, seeds: str, options: LinkOptions) -> None:
        super().__init__(options, f"cluster://{seeds}")
        self.node_options: dict[str, Any] = {
            "password": options.password,
            "socket_connect_timeout": options.timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        self._cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in parse_addresses(seeds)],
            **self.node_options,
            socket_timeout=None,
            decode_responses=True,
            max_connections=POOL_SIZE,
        )
        # Every node discovered gets hiredis packing (RedisCluster takes no connection_class).
        self._cluster.connection_kwargs["connection_class"] = PackedConnection
        self.nodes = self._cluster.nodes_manager
        self._lanes: dict[str, Lane] = {}
        self._refresh: asyncio.Task[None] | None = None
        self._refreshed_at = 0.0
        self._primaries_seen: frozenset[str] = frozenset()
        self._tasks: set[asyncio.Task[Any]] = set()

    def _lane(self, node: ClusterNode) -> Lane:
        lane = self._lanes.get(node.name)
        if lane is None or cast(NodeSource, lane.source).node is not node:
            lane = self._lanes[node.name] = Lane(node.name, NodeSource(node, self), self)
        return lane

    def primary_of(self, key: str) -> ClusterNode:
        """The primary serving ``key``'s slot, as the slot map says."""
        slot = key_slot(key.encode())
        try:
            return self.nodes.get_node_from_slot(slot)
        except (RedisClusterException, LookupError) as error:  # no slot map yet, or a gap
            raise RedisError(f"slot {slot} is not covered (yet)") from error

    def route(self, command: Command) -> Lane:
        return self._lane(self.primary_of(routing_key(command)))

    def primaries(self) -> list[Lane]:
        return [self._lane(node) for node in self.nodes.get_nodes_by_server_type("primary")]

    def subscription(self, channel: str) -> Subscription:
        return ShardedSubscription(self, channel)

    async def connect(self) -> None:
        await self._reread()

    def follow(self, error: BaseException) -> None:
        """Re-read the slot map soon (one refresh at a time, rate-limited)."""
        if self._refresh is None or self._refresh.done():
            self._refresh = self.spawn(self._reread(_REFRESH_EVERY))

    async def _reread(self, spacing: float = 0.0) -> None:
        await asyncio.sleep(max(0.0, self._refreshed_at + spacing - time.monotonic()))
        self._refreshed_at = time.monotonic()
        try:
            async with asyncio.timeout(self.deadline):
                await self.nodes.initialize()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as error:
            log.debug("cluster slot map not read: %r", error)
            return
        primaries = frozenset(n.name for n in self.nodes.get_nodes_by_server_type("primary"))
        if self._primaries_seen and primaries != self._primaries_seen:
            metrics.REDIS_FAILOVERS.inc()
            log.warning("redis cluster primaries changed", extra={"redis": sorted(primaries)})
        self._primaries_seen = primaries

    async def redirected(self, entry: Entry, error: MovedError | AskError) -> Lane:
        """MOVED: patch the slot map the way redis-py does and go to the new owner;
        ASK: go to the node named, once, with ASKING."""
        if isinstance(error, MovedError):
            await self.nodes.move_slot(error)
            return self.route(entry.command)
        entry.asking = True
        node = self.nodes.get_node(host=error.host, port=error.port)
        if node is None:
            raise error
        return self._lane(node)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        await super().close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(
            *self._tasks, *(lane.close() for lane in self._lanes.values()), return_exceptions=True
        )
        # RedisCluster.aclose() closes only a client it initialised itself: the nodes
        # are closed here (the slot map was read through the NodesManager).
        await self.nodes.aclose()
        await self.nodes.aclose("startup_nodes")
