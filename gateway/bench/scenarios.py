"""The scenarios of ``aoi-bench``: ``connect`` (handshakes, memory) and ``push`` (delivery)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as redis

from gateway.bench.fleet import Fleet, Ready, WorkerSpec
from gateway.bench.report import Delivery, match
from gateway.bench.sender import PushPlan, Sender, SendLog
from gateway.bench.stats import Histogram, RedisSnapshot, cpu_seconds, rss_bytes

APPLICATION_ID = "com.example.bench"
SOURCE_IPS_ABOVE = 20_000  # devices; past this each worker gets its own loopback address
_DELIVERED = 'aoi_notifications_total{outcome="delivered"}'


@dataclass(slots=True)
class Setup:
    """Where the scenario runs and how it is measured."""

    urls: list[str]
    session: aiohttp.ClientSession
    deadline: float  # monotonic
    redis_urls: list[str] = field(default_factory=list)  # one per primary (shard)
    node_pids: list[int] = field(default_factory=list)
    per_worker: int = 10_000
    connect_concurrency: int = 200
    timeout: float = 10.0
    api_key: str | None = None  # sent with every notification
    device_secret: bytes | None = None  # HMAC secret that signs each device's token
    status: Callable[[], str] = lambda: ""

    @property
    def remaining(self) -> float:
        return max(0.1, self.deadline - time.monotonic())


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counters of the system under test at one moment."""

    node_cpu: float
    node_rss: list[int]
    redis: list[RedisSnapshot] | None  # per primary
    delivered: float | None


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _delivered_count(setup: Setup) -> float | None:
    """Sum over the nodes of ``aoi_notifications_total{outcome="delivered"}``."""
    total = 0.0
    for url in setup.urls:
        try:
            async with setup.session.get(
                url.rstrip("/") + "/metrics", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        for line in text.splitlines():
            if line.startswith(_DELIVERED):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def _redis_snapshot(urls: list[str]) -> list[RedisSnapshot] | None:
    """One snapshot per primary, or None without any."""
    snapshots = []
    for url in urls:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            snapshots.append(
                RedisSnapshot.from_info(await client.info("commandstats", "stats", "cpu"))
            )
        finally:
            await client.aclose()
    return snapshots or None


async def snapshot(setup: Setup) -> Snapshot:
    return Snapshot(
        sum(cpu_seconds(pid) for pid in setup.node_pids),
        [rss_bytes(pid) for pid in setup.node_pids],
        await _redis_snapshot(setup.redis_urls),
        await _delivered_count(setup),
    )


def _worker_specs(setup: Setup, devices: int, run_id: str) -> list[WorkerSpec]:
    ws_urls = [url.rstrip("/") + "/ws" for url in setup.urls]
    workers = math.ceil(devices / setup.per_worker)
    own_ips = devices > SOURCE_IPS_ABOVE and all(is_loopback(url) for url in setup.urls)
    return [
        WorkerSpec(
            devices=[(i, ws_urls[i % len(ws_urls)]) for i in range(w, devices, workers)],
            run_id=run_id,
            application_id=APPLICATION_ID,
            local_ip=f"127.0.0.{w + 2}" if own_ips else None,
            connect_concurrency=setup.connect_concurrency,
            timeout=setup.timeout,
            deadline=setup.deadline + 30,
            device_secret=setup.device_secret,
        )
        for w in range(workers)
    ]


@contextlib.asynccontextmanager
async def device_fleet(setup: Setup, devices: int) -> AsyncIterator[tuple[Fleet, list[Ready]]]:
    """Devices spread round-robin over the nodes and over worker processes."""
    fleet = Fleet(_worker_specs(setup, devices, uuid.uuid4().hex[:12]))
    setup.status = lambda: f"connected {sum(fleet.connected)}/{devices}"
    fleet.start()
    try:
        yield fleet, await fleet.ready(setup.remaining)
    finally:
        await fleet.stop()


def _handshake_results(devices: int, ready: list[Ready]) -> dict[str, Any]:
    handshakes = Histogram()
    failures: dict[str, int] = {}
    for part in ready:
        handshakes.merge(part.handshakes)
        for name, count in part.failures.items():
            failures[name] = failures.get(name, 0) + count
    elapsed = max(p.finished for p in ready) - min(p.started for p in ready)
    return {
        "devices": devices,
        "connected": handshakes.total,
        "failures": failures,
        "connect_seconds": round(elapsed, 3),
        "handshakes_per_second": round(handshakes.total / elapsed, 1) if elapsed > 0 else None,
        "handshake_latency": handshakes.summary(),
    }


async def run_connect(setup: Setup, devices: int, hold: float) -> dict[str, Any]:
    """Open ``devices`` devices, hold them ``hold`` seconds, measure rate and memory."""
    before = await snapshot(setup)
    async with device_fleet(setup, devices) as (_, ready):
        results = _handshake_results(devices, ready)
        await asyncio.sleep(min(hold, setup.remaining))
        after = await snapshot(setup)
    channels = results["connected"]
    rss_delta = sum(after.node_rss) - sum(before.node_rss)
    results["node_rss_before_bytes"] = before.node_rss
    results["node_rss_after_bytes"] = after.node_rss
    results["rss_per_channel_kib"] = (
        round(rss_delta / channels / 1024, 2) if channels and setup.node_pids else None
    )
    results["node_cpu_ms_per_handshake"] = (
        round((after.node_cpu - before.node_cpu) * 1000 / channels, 3)
        if channels and setup.node_pids
        else None
    )
    return results


async def _wait_for(predicate: Callable[[], Any], timeout: float) -> bool:
    """Poll ``predicate`` (sync or async) every 50 ms until truthy or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return True
        await asyncio.sleep(0.05)
    return False


@dataclass(frozen=True, slots=True)
class PushOptions:
    devices: int
    notifications: int
    batch: int
    rate: float | None
    concurrency: int
    payload_bytes: int
    seed: int
    drain_timeout: float


def _plan(setup: Setup, options: PushOptions, ready: list[Ready]) -> PushPlan:
    registrations = dict(pair for part in ready for pair in part.registrations)
    indices = sorted(registrations)  # devices whose handshake succeeded
    return PushPlan(
        node_urls=setup.urls,
        registrations=[registrations[i] for i in indices],
        device_ids=indices,
        device_node=[i % len(setup.urls) for i in indices],
        count=options.notifications,
        batch=options.batch,
        rate=options.rate,
        concurrency=options.concurrency,
        payload="x" * options.payload_bytes,
        seed=options.seed,
        timeout=setup.timeout,
        api_key=setup.api_key,
    )


async def run_push(setup: Setup, options: PushOptions) -> dict[str, Any]:
    """Send notifications to held devices and check that each arrives exactly once."""
    async with device_fleet(setup, options.devices) as (fleet, ready):
        connected = _handshake_results(options.devices, ready)
        sender = Sender(_plan(setup, options, ready))
        setup.status = lambda: (
            f"sent {sender.log.sent}/{options.notifications} "
            f"accepted {len(sender.log.accepted)} received {sum(fleet.received)}"
        )
        before = await snapshot(setup)
        bench_cpu = _own_cpu(fleet)
        log = await sender.run(setup.deadline)
        drained = await _wait_for(
            lambda: sum(fleet.received) >= len(log.accepted),
            min(options.drain_timeout, setup.remaining),
        )
        await _acknowledged(setup, before, len(log.accepted))
        after = await snapshot(setup)
        bench_cpu = _own_cpu(fleet) - bench_cpu
        receipts = await fleet.collect(setup.remaining + 10)
    return _push_results(connected, log, match(log, receipts), before, after) | {
        "drained": drained,
        "bench_cpu_seconds": round(bench_cpu, 3),
    }


def _own_cpu(fleet: Fleet) -> float:
    """CPU seconds of this process and the device workers (the load generator)."""
    return cpu_seconds(os.getpid()) + sum(cpu_seconds(pid) for pid in fleet.pids)


async def _acknowledged(setup: Setup, before: Snapshot, accepted: int) -> bool:
    """Wait (bounded) until the nodes count every accepted notification as delivered."""
    if before.delivered is None:
        return False
    start = before.delivered

    async def done() -> bool:
        now = await _delivered_count(setup)
        return now is not None and now - start >= accepted

    return await _wait_for(done, min(10.0, setup.remaining))


def _redis_costs(before: Snapshot, after: Snapshot, delivered: int) -> tuple[Any, Any]:
    """Redis work in total and per primary, or None without snapshots."""
    if not (before.redis and after.redis):
        return None, None
    total = RedisSnapshot.total(before.redis).cost(RedisSnapshot.total(after.redis), delivered)
    return total, [b.cost(a, delivered) for b, a in zip(before.redis, after.redis, strict=True)]


def _push_results(
    connected: dict[str, Any], log: SendLog, delivery: Delivery, before: Snapshot, after: Snapshot
) -> dict[str, Any]:
    accepted = len(log.accepted)
    delivered = delivery.delivered
    elapsed = delivery.last_receipt - log.started if delivered else 0.0
    redis_cost, shards = _redis_costs(before, after, delivered)
    node_cpu = after.node_cpu - before.node_cpu
    acked = (
        None
        if before.delivered is None or after.delivered is None
        else int(after.delivered - before.delivered)
    )
    return {
        "handshake": connected,
        "sent": log.sent,
        "accepted": accepted,
        "send_errors": log.errors,
        "send_seconds": round(log.finished - log.started, 3),
        "accepted_per_second": round(accepted / (log.finished - log.started), 1),
        "crossed": log.crossed,
        "crossed_share": round(log.crossed / accepted, 3) if accepted else None,
        "delivered": delivered,
        "acknowledged_by_nodes": acked,
        "delivered_per_second": round(delivered / elapsed, 1) if elapsed > 0 else None,
        "latency": delivery.latency.summary(),
        "http_request_latency": log.requests.summary(),
        "lost": delivery.lost,
        "duplicated": delivery.duplicated,
        "misrouted": delivery.misrouted,
        "redelivered_after_close": delivery.redelivered_after_close,
        "unexpected": delivery.unexpected,
        "truncated": log.truncated,
        "redis": redis_cost,
        "redis_per_primary": shards,
        "node_cpu_seconds": round(node_cpu, 3),
        "node_cpu_ms_per_delivered": round(node_cpu * 1000 / delivered, 4) if delivered else None,
    }
