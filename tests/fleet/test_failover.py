"""Failover of a Redis primary under load, on Sentinel and on Cluster.

Two nodes with ``--redis-wait-replicas 1`` serve devices on both while a bounded
stream of sends goes on; the primary holding the devices' keys is killed with
SIGKILL and comes back as a replica of the promoted one. Every answer is 202 or
503 (never 500) and comes within 1.5 x ``--redis-timeout`` (plus the HTTP round
trip); sends succeed again within 5 s of the new primary being in place with a
replica of its own; every notification that got 202 reaches its device. On
Cluster, the failover of the shard holding a node's bus channel: doorbells resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from gateway.bench.nodeprocess import NodeProcess
from gateway.bench.topology import Cluster, Topology, topology
from gateway.client import AppServer, Device
from gateway.store import keys
from tests.calls import ready_device
from tests.conftest import START_TIMEOUT, wait_for

PASSWORD = "failover-pw"
REDIS_TIMEOUT = 1.0
ANSWER_BOUND = 1.5 * REDIS_TIMEOUT + 0.5  # the contract's bound, plus HTTP on a busy machine
RECOVERY = 5.0
SENDS = 600
SEND_PERIOD = 0.02
DEVICES = 8


@pytest.fixture(scope="module", params=["sentinel", "cluster"])
def replicated(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """A fresh deployment per mode for this module's tests (they kill its primaries)."""
    deployment = topology(request.param, PASSWORD)
    deployment.start()
    yield deployment
    deployment.stop()


@pytest.fixture
def start_nodes(replicated: Topology, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def start(**options: object) -> NodeProcess:
        args = ["--redis-password", PASSWORD, "--redis-wait-replicas", "1"]
        args += ["--redis-timeout", str(REDIS_TIMEOUT), "--drain-window", "0.5"]
        for name, value in options.items():
            args += ["--" + name.replace("_", "-"), str(value)]
        node_id = f"node-{uuid.uuid4().hex[:8]}"
        node = NodeProcess(replicated.node_args(), tmp_path, node_id, args)
        started.append(node)
        return node.start(START_TIMEOUT)

    yield start
    for node in started:
        node.stop()


@dataclass
class Load:
    """What a stream of sends got: (started, seconds, status) per send, and the 202s."""

    answers: list[tuple[float, float, int]] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # notificationID -> registrationID
    received: set[str] = field(default_factory=set)


async def readyz_is(node: NodeProcess, status: int) -> bool:
    """``/readyz`` answers ``status`` (asked off the event loop, which the load shares)."""
    return await asyncio.to_thread(node.http_status, "/readyz") == status


async def consume(device: Device, load: Load, done: asyncio.Event) -> None:
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            note = await device.next_notification(timeout=0.2)
            load.received.add(note["notificationID"])
            await device.acknowledge(note["notificationID"])


async def produce(apis: list[AppServer], registrations: list[str], load: Load) -> None:
    for n in range(SENDS):
        registration_id = registrations[n % len(registrations)]
        started = time.monotonic()
        async with asyncio.timeout(10):
            status, body = await apis[n % 2].send(registration_id, f"n{n}")
        load.answers.append((started, time.monotonic() - started, status))
        if status == 202:
            load.accepted[body["notificationID"]] = registration_id
        await asyncio.sleep(SEND_PERIOD)


@contextlib.asynccontextmanager
async def devices_on(
    nodes: list[NodeProcess], http: aiohttp.ClientSession, load: Load
) -> AsyncIterator[list[str]]:
    """DEVICES devices, half on each node, consuming; yields their registrationIDs."""
    opened: list[Device] = []

    async def connect(url: str) -> Device:
        device = await Device.connect(url, session=http)
        opened.append(device)
        return device

    registrations = [(await ready_device(connect, nodes[i % 2].ws_url))[2] for i in range(DEVICES)]
    done = asyncio.Event()
    consumers = [asyncio.create_task(consume(device, load, done)) for device in opened]
    try:
        yield registrations
    finally:
        done.set()
        await asyncio.gather(*consumers, return_exceptions=True)
        for device in opened:
            await device.close()


async def accepted(api: AppServer, registration_id: str, payload: str) -> dict[str, str]:
    """The 202 body of a send, retried on 503 (the replica may still be catching up:
    with --redis-wait-replicas 1 the answer waits for it) for RECOVERY at most."""
    deadline = time.monotonic() + RECOVERY
    while True:
        status, body = await api.send(registration_id, payload)
        if status == 202 or time.monotonic() > deadline:
            assert status == 202, body
            return dict(body)
        assert status == 503, body
        await asyncio.sleep(0.05)


async def test_primary_failover_under_load(replicated, start_nodes, http):
    nodes = [start_nodes(), start_nodes()]
    apis = [AppServer(node.url, http) for node in nodes]
    load = Load()
    async with devices_on(nodes, http, load) as registrations:
        producer = asyncio.create_task(produce(apis, registrations, load))
        await asyncio.sleep(2)
        old = replicated.kill_primary(keys.client(registrations[0][:11]))
        killed = time.monotonic()
        await wait_for(lambda: readyz_is(nodes[0], 503), timeout=10)
        await asyncio.to_thread(replicated.wait_failover, old)
        await asyncio.to_thread(replicated.restart, old)  # the new primary's replica
        in_place = time.monotonic()
        await producer
        await wait_for(lambda: set(load.accepted) <= load.received, timeout=30)
    statuses = [status for _, _, status in load.answers]
    refused = [started for started, _, status in load.answers if status != 202]
    print(
        f"{type(replicated).__name__}: killed, replaced and rejoined in {in_place - killed:.2f} s;"
        f" {len(refused)} of {SENDS} sends answered 503; last 503 at"
        f" {max(refused, default=killed) - in_place:+.2f} s from then"
    )
    assert set(statuses) <= {202, 503} and refused
    assert max(seconds for _, seconds, _ in load.answers) < ANSWER_BOUND
    assert max(refused) < in_place + RECOVERY
    assert statuses[-1] == 202 and all(node.http_status("/readyz") == 200 for node in nodes)


async def test_failover_of_the_bus_channels_shard(replicated, start_nodes, connect, http):
    if not isinstance(replicated, Cluster):
        pytest.skip("only Cluster spreads bus channels over shards")
    holder, other = start_nodes(catchup_interval=60), start_nodes(catchup_interval=60)
    device, _, registration_id = await ready_device(connect, holder.ws_url)
    api = AppServer(other.url, http)
    old = replicated.kill_primary(keys.bus_channel(holder.node_id))
    await wait_for(lambda: readyz_is(holder, 503), timeout=10)
    await asyncio.to_thread(replicated.wait_failover, old)
    await asyncio.to_thread(replicated.restart, old)
    for node in (holder, other):
        await wait_for(lambda node=node: readyz_is(node, 200), timeout=RECOVERY)
    for n in range(3):  # doorbells from the other node, not the catch-up (a minute away)
        body = await accepted(api, registration_id, f"after {n}")
        # A send answered 503 "not replicated" was stored all the same and may come first.
        async with asyncio.timeout(2):
            while True:
                note = await device.next_notification(timeout=2)
                await device.acknowledge(note["notificationID"])
                if note["notificationID"] == body["notificationID"]:
                    break
