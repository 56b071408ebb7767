"""The loopback Redis deployments serve redis-py's own clients, and replace a killed primary.

The failover tests print how long redis-py took to write again after the kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel as SentinelClient
from redis.exceptions import AuthenticationError, RedisError

from gateway.bench.topology import SERVICE, Cluster, Sentinel, Standalone, Topology, topology

PASSWORD = 'pass "word" \\ with spaces'
STEP = 5.0  # bound of one exchange
RECOVERY = 20.0  # bound of a client's recovery after a kill


def started(deployment: Topology) -> Iterator[Topology]:
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def standalone() -> Iterator[Topology]:
    yield from started(Standalone(PASSWORD))


@pytest.fixture
def sentinel() -> Iterator[Topology]:
    yield from started(Sentinel(PASSWORD))


@pytest.fixture
def cluster() -> Iterator[Topology]:
    yield from started(Cluster(PASSWORD))


async def step(awaitable: Awaitable[Any]) -> Any:
    async with asyncio.timeout(STEP):
        return await awaitable


async def seconds_until_written(write: Callable[[], Awaitable[object]]) -> float:
    """Seconds until ``write()`` succeeds, tried every 50 ms, each try bounded."""
    started = time.monotonic()
    while True:
        try:
            async with asyncio.timeout(2):
                await write()
            return time.monotonic() - started
        except (RedisError, OSError, TimeoutError):
            if time.monotonic() - started > RECOVERY:
                raise
        await asyncio.sleep(0.05)


def test_factory_names_the_three_modes() -> None:
    for mode, kind in [("standalone", Standalone), ("sentinel", Sentinel), ("cluster", Cluster)]:
        deployment = topology(mode, password="x")
        assert isinstance(deployment, kind) and deployment.mode == mode
        assert deployment.password == "x"
    with pytest.raises(ValueError, match="unknown Redis mode"):
        topology("replicated")


async def test_standalone_serves_and_restarts_empty(standalone: Standalone) -> None:
    assert standalone.node_args() == ["--redis-url", standalone.url]
    server = standalone.primary()
    assert standalone.node_args()[1] == f"redis://{server.address}"
    client = aioredis.Redis.from_url(standalone.url, password=PASSWORD, decode_responses=True)
    anonymous = aioredis.Redis.from_url(standalone.url)
    try:
        assert await step(client.set("k", "v"))
        assert await step(client.get("k")) == "v"
        with pytest.raises(AuthenticationError):
            await step(anonymous.get("k"))

        standalone.kill_primary()
        assert not server.alive
        standalone.restart(server)
        assert await seconds_until_written(lambda: client.set("after", "1")) < RECOVERY
        assert await step(client.get("k")) is None  # nothing persisted
    finally:
        await step(client.aclose())
        await step(anonymous.aclose())


@contextlib.asynccontextmanager
async def sentinel_client(deployment: Sentinel) -> AsyncIterator[tuple[SentinelClient, Any]]:
    sentinels = SentinelClient(  # type: ignore[no-untyped-call]
        deployment.sentinel_addresses, socket_timeout=1.0
    )
    primary = sentinels.master_for(
        SERVICE, password=PASSWORD, socket_timeout=1.0, decode_responses=True
    )
    try:
        yield sentinels, primary
    finally:
        await step(primary.aclose())
        await step(sentinels.aclose())


async def test_sentinel_serves_and_fails_over(sentinel: Sentinel) -> None:
    addresses = ",".join(f"127.0.0.1:{port}" for _, port in sentinel.sentinel_addresses)
    assert sentinel.node_args() == [
        *("--redis-sentinel", addresses, "--redis-sentinel-service", SERVICE)
    ]
    async with sentinel_client(sentinel) as (sentinels, primary):
        old = sentinel.primary()
        assert await step(sentinels.discover_master(SERVICE)) == ("127.0.0.1", old.port)
        assert await step(primary.set("k", "before"))
        assert await step(primary.execute_command("WAIT", 1, 2000)) == 1
        assert await step(primary.get("k")) == "before"

        assert sentinel.kill_primary() is old and not old.alive
        took = await seconds_until_written(lambda: primary.set("k2", "after"))
        print(f"sentinel failover: redis-py wrote again {took:.2f} s after the kill")
        new = sentinel.wait_failover(old)
        assert new != old.address
        host, port = await step(sentinels.discover_master(SERVICE))
        assert f"{host}:{port}" == new
        assert await step(primary.get("k")) == "before"  # acknowledged by WAIT, kept

        sentinel.restart(old)  # a replica of the new primary
        assert old.info("replication")["role"] == "slave"
        assert await step(primary.execute_command("WAIT", 1, 2000)) == 1


def shard_of(client: RedisCluster, key: str) -> ClusterNode:
    node = client.get_node_from_key(key)
    assert node is not None
    return node


async def test_cluster_serves_and_fails_over(cluster: Cluster) -> None:
    seeds = ",".join(f"127.0.0.1:{port}" for _, port in cluster.startup_nodes)
    assert cluster.node_args() == ["--redis-cluster", seeds]
    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster.startup_nodes],
        password=PASSWORD,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        decode_responses=True,
    )
    try:
        await step(client.initialize())
        keys = [f"key{i}" for i in range(30)]
        for key in keys:
            assert await step(client.set(key, key))
        assert [await step(client.get(key)) for key in keys] == keys
        assert len({shard_of(client, key).name for key in keys}) == 3
        old = cluster.primary("key0")
        shard = shard_of(client, "key0")
        assert shard.name == old.address
        assert await step(client.execute_command("WAIT", 1, 2000, target_nodes=shard)) == 1

        assert cluster.kill_primary("key0") is old and not old.alive
        took = await seconds_until_written(lambda: client.set("key0", "after"))
        print(f"cluster failover: redis-py wrote again {took:.2f} s after the kill")
        new = cluster.wait_failover(old)
        assert new != old.address
        assert shard_of(client, "key0").name == new
        assert [await step(client.get(key)) for key in keys[1:]] == keys[1:]

        cluster.restart(old)  # rejoins as a replica of the new primary
        assert old.info("replication")["role"] == "slave"
        shard = shard_of(client, "key0")
        assert await step(client.execute_command("WAIT", 1, 2000, target_nodes=shard)) == 1
    finally:
        await step(client.aclose())
