"""The store's link on a real Cluster and a real standalone server: one pipeline per shard
per turn, shards failing alone, NOSCRIPT, MOVED and ASK, and WAIT."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.crc import key_slot

from gateway.bench.topology import Cluster
from gateway.protocol.errors import Unavailable
from gateway.runtime.settings import Settings
from gateway.store import EVERY_APPLICATION, Outgoing, Store, keys
from gateway.store.base import Unreplicated
from gateway.store.link import NotReplicated
from tests.conftest import RedisServer, wait_for

STEP = 10.0


async def step(awaitable: Any) -> Any:
    async with asyncio.timeout(STEP):
        return await awaitable


@pytest.fixture
async def store(redis_cluster: Cluster) -> AsyncIterator[Store]:
    settings = Settings(redis_cluster=redis_cluster.node_args()[1], node_id="link-test")
    store = Store(settings)
    await step(store.load_scripts())
    yield store
    await step(store.close())


async def registered(store: Store, count: int) -> list[tuple[str, str]]:
    """(clientID, registrationID) of ``count`` fresh clients."""
    clients = []
    for _ in range(count):
        client_id = await step(store.register("dev-" + uuid.uuid4().hex))
        registration_id = await step(store.register_application(client_id, None, "com.app", 8))
        clients.append((client_id, registration_id))
    return clients


def on_three_shards(redis_cluster: Cluster, clients: list[tuple[str, str]]) -> list[Any]:
    """One client per shard, picked from ``clients``."""
    by_shard = {redis_cluster.primary(keys.client(c[:11])).address: (c, r) for c, r in clients}
    assert len(by_shard) == 3, "30 random tags cover the three shards"
    return list(by_shard.values())


async def queue_length(redis_cluster: Cluster, client_id: str) -> int:
    key = keys.queue(client_id[:11])
    return int(redis_cluster.primary(key).command("ZCARD", key))


async def test_one_pipeline_per_shard_per_turn(store: Store) -> None:
    lanes = store.link.primaries()
    before = sum(lane.exchanges for lane in lanes)
    names = [f"aoi:test:{{{uuid.uuid4().hex}}}" for _ in range(300)]
    replies = await step(store.link.submit([("SET", name, 1, "PX", 5000) for name in names]))
    assert replies == ["OK"] * 300
    assert sum(lane.exchanges for lane in lanes) - before == 3


async def test_a_hung_shard_fails_only_its_own_commands(redis_cluster: Cluster) -> None:
    settings = Settings(redis_cluster=redis_cluster.node_args()[1], redis_timeout=0.1)
    store = Store(settings)
    await step(store.link.connect())
    names = [f"aoi:test:{{{uuid.uuid4().hex}}}" for _ in range(60)]
    hung = redis_cluster.primary(names[0])
    os.kill(hung.pid, signal.SIGSTOP)  # well below cluster-node-timeout: no failover
    try:
        replies = await step(store.link.submit([("SET", name, 1, "PX", 5000) for name in names]))
    finally:
        os.kill(hung.pid, signal.SIGCONT)
        await step(store.close())
    for name, reply in zip(names, replies, strict=True):
        if redis_cluster.primary(name) is hung:
            assert isinstance(reply, TimeoutError), reply
        else:
            assert reply == "OK"


async def test_noscript_on_one_shard_reloads_and_runs_each_script_once(
    store: Store, redis_cluster: Cluster
) -> None:
    clients = on_three_shards(redis_cluster, await registered(store, 30))
    flushed = redis_cluster.primary(keys.client(clients[0][0][:11]))
    flushed.command("SCRIPT", "FLUSH")  # as a promoted replica: no scripts
    batch = [Outgoing(registration_id, "once", 60) for _, registration_id in clients]
    results = await step(store.send_many(batch, 100, EVERY_APPLICATION))
    assert [type(result).__name__ for result in results] == ["Accepted"] * 3
    assert [await queue_length(redis_cluster, c) for c, _ in clients] == [1, 1, 1]


def _node_id(server: Any) -> str:
    return str(server.command("CLUSTER", "MYID"))


def _empty_slot_key(redis_cluster: Cluster) -> tuple[str, int]:
    """A client key whose slot holds no key yet (so the slot moves without MIGRATE)."""
    while True:
        tag = uuid.uuid4().hex[:11]
        slot = key_slot(keys.client(tag).encode())
        owner = redis_cluster.primary(keys.client(tag))
        if owner.command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0:
            return tag, slot


def _assign(redis_cluster: Cluster, slot: int, server: Any) -> None:
    for primary in redis_cluster.primaries():
        primary.command("CLUSTER", "SETSLOT", slot, "NODE", _node_id(server))


async def test_moved_and_ask_resend_the_command_where_the_slot_is(
    store: Store, redis_cluster: Cluster
) -> None:
    tag, slot = _empty_slot_key(redis_cluster)
    home = redis_cluster.primary(keys.client(tag))
    away = next(p for p in redis_cluster.primaries() if p is not home)
    key = keys.client(tag)
    try:
        # MIGRATING on the owner, IMPORTING on the target: a missing key answers ASK.
        away.command("CLUSTER", "SETSLOT", slot, "IMPORTING", _node_id(home))
        home.command("CLUSTER", "SETSLOT", slot, "MIGRATING", _node_id(away))
        assert await step(store.link.submit([("HSET", key, "f", "ask")])) == [1]
        _assign(redis_cluster, slot, away)  # the link's map still names the old owner: MOVED
        assert away.command("HGET", key, "f") == "ask"
        assert await step(store.link.submit([("HGET", key, "f")])) == ["ask"]
        assert store.link.route(("HGET", key)).name == away.address
    finally:
        _assign(redis_cluster, slot, away)
        away.command("DEL", key)
        _assign(redis_cluster, slot, home)
    assert await step(store.link.submit([("HGET", key, "f")])) == [None]


async def test_wait_once_per_shard_and_answers_after_the_replicas(redis_cluster: Cluster) -> None:
    settings = Settings(redis_cluster=redis_cluster.node_args()[1], redis_wait_replicas=1)
    store = Store(settings)
    try:
        await step(store.load_scripts())
        clients = await registered(store, 12)

        def waits() -> int:
            stats = [p.command("INFO", "commandstats") for p in redis_cluster.primaries()]
            return sum(int(s.get("cmdstat_wait", {}).get("calls", 0)) for s in stats)

        before = waits()
        batch = [Outgoing(registration_id, "kept", 60) for _, registration_id in clients] * 10
        results = await step(store.send_many(batch, 1000, EVERY_APPLICATION))
        assert [type(result).__name__ for result in results] == ["Accepted"] * 120
        assert 1 <= waits() - before <= 3  # one per shard written, not one per command
    finally:
        await step(store.close())


async def test_too_few_replicas_answers_not_replicated_and_keeps_the_write() -> None:
    server = RedisServer()  # no replica at all
    server.start()
    plain = Store(Settings(redis_url=server.url))
    durable = Store(Settings(redis_url=server.url, redis_wait_replicas=1, redis_timeout=0.2))
    try:
        await step(durable.load_scripts())
        ((client_id, registration_id),) = await registered(plain, 1)
        attempts = [
            lambda: durable.register("dev-" + uuid.uuid4().hex),
            lambda: durable.register_application(client_id, None, "com.other", 8),
            lambda: durable.send(
                Outgoing(registration_id, "stored anyway", 60), 100, EVERY_APPLICATION
            ),
        ]
        for attempt in attempts:
            with pytest.raises(Unreplicated) as refused:
                await step(attempt())
            assert isinstance(refused.value, Unavailable)
            assert "not replicated" in str(refused.value)
        pending = await step(plain.link.submit([("ZCARD", keys.queue(client_id[:11]))]))
        assert pending == [1]
    finally:
        await step(plain.close())
        await step(durable.close())
        server.remove()


def test_tls_and_unix_urls_keep_redis_pys_connection_classes() -> None:
    """The bundled server has no TLS; what can be checked here is that the link does
    not force its plain-TCP connection class onto rediss:// or unix:// URLs."""
    tls = Store(Settings(redis_url="rediss://redis.example:6380/0"))
    unix = Store(Settings(redis_url="unix:///run/redis.sock"))
    pools = [store.link.route(("GET", "k")).source.pool for store in (tls, unix)]
    assert [pool.connection_class for pool in pools] == [SSLConnection, UnixDomainSocketConnection]
    assert (tls.address, unix.address) == ("rediss://redis.example:6380", "unix:///run/redis.sock")


async def test_concurrent_registrations_of_one_device_agree_on_cluster(
    store: Store, redis_cluster: Cluster
) -> None:
    """The index lives in another slot than the record: written after it, a concurrent
    registration never takes a record being created for a stale entry."""
    other = Store(Settings(redis_cluster=redis_cluster.node_args()[1], node_id="other"))
    try:
        await step(other.load_scripts())
        for _ in range(5):
            number = "dev-" + uuid.uuid4().hex
            attempts = [s.register(number) for s in (store, other) for _ in range(10)]
            client_ids = await step(asyncio.gather(*attempts))
            assert len(set(client_ids)) == 1
    finally:
        await step(other.close())


async def test_before_the_slot_map_is_read_requests_fail_fast_then_work(
    redis_cluster: Cluster,
) -> None:
    fresh = Store(Settings(redis_cluster=redis_cluster.node_args()[1], node_id="fresh"))
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(Unavailable):  # no slot map yet: refused, and it is read now
            await step(fresh.register("dev-" + uuid.uuid4().hex))
        assert asyncio.get_running_loop().time() - started < 0.5
        await wait_for(lambda: registers(fresh), timeout=5)
    finally:
        await step(fresh.close())


async def registers(store: Store) -> bool:
    try:
        return bool(await step(store.register("dev-" + uuid.uuid4().hex)))
    except Unavailable:
        return False


async def test_what_need_not_wait_is_answered_before_the_wait() -> None:
    server = RedisServer()  # no replica: WAIT takes its whole timeout
    server.start()
    store = Store(Settings(redis_url=server.url, redis_wait_replicas=1, redis_timeout=1.0))
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        durable = store.link.submit([("SET", "aoi:test:durable", 1)], durable=True)
        plain = store.link.submit([("GET", "aoi:test:durable")])  # same turn, same pipeline
        assert await step(plain) == ["1"]
        assert loop.time() - started < 0.4
        with pytest.raises(NotReplicated):
            await step(durable)
        assert loop.time() - started >= 0.75  # WAIT got 0.8 x the timeout
    finally:
        await step(store.close())
        server.remove()
