#!/usr/bin/env python3
"""What the gateway costs Redis: memory per record, and commands per idle device.

Usage:

- ``python scripts/redis_probe.py memory [N] [PAYLOAD_BYTES]`` (default 20000, 64):
  an in-process store on a fresh valkey-server registers N devices, one
  application each, sends each one notification, then delivers them; prints
  ``used_memory`` growth per registered device, per application, per pending
  notification and per final status kept.
- ``python scripts/redis_probe.py idle [N] [SECONDS] [NODE_ARG...]`` (default 2000,
  60): one node process with N registered and activated idle devices; prints the
  commands Redis ran (``INFO commandstats``) and its CPU over SECONDS.
- ``python scripts/redis_probe.py scripts [N] [ROUNDS]`` (default 200, 50): N activated
  clients get ROUNDS notifications each, every one written from its doorbell and
  acknowledged (``send``, then one channel step with its mark and its acknowledgement,
  as on a loaded node); prints the server's time in the scripts (``INFO commandstats``),
  the commands it ran and its CPU (``INFO cpu``), per notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis

from gateway.bench.nodeprocess import NodeProcess, free_port
from gateway.client import Device
from gateway.node.embedded import EmbeddedRedis
from gateway.runtime.settings import Settings
from gateway.store import EVERY_APPLICATION, Accepted, Outgoing, Pending, Store
from gateway.store.base import client_tag

T = TypeVar("T")
U = TypeVar("U")
CHUNK = 500


async def chunked(items: Sequence[T], work: Callable[[T], Awaitable[U]]) -> list[U]:
    """``work`` on every item, CHUNK at a time (so the link pipelines them)."""
    done: list[U] = []
    for start in range(0, len(items), CHUNK):
        done += await asyncio.gather(*(work(item) for item in items[start : start + CHUNK]))
    return done


async def info(store: Store, section: str) -> dict[str, str]:
    """The fields of one ``INFO`` section of the store's server."""
    (text,) = await store.link.submit([("INFO", section)])
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


async def used_memory(store: Store) -> int:
    return int((await info(store, "memory"))["used_memory"])


@contextlib.asynccontextmanager
async def fresh_store() -> AsyncIterator[Store]:
    """An in-process store on a valkey-server of its own, removed afterwards."""
    server = EmbeddedRedis(port=free_port())
    server.start()
    store = Store(Settings(redis_url=server.url, node_id="probe"))
    try:
        await store.load_scripts()
        yield store
    finally:
        await store.close()
        server.remove()


async def memory(count: int, payload: int) -> None:
    async with fresh_store() as store:
        empty = await used_memory(store)
        numbers = [str(5465465416846865465 + i) for i in range(count)]
        clients = await chunked(numbers, store.register)
        registered = await used_memory(store)
        apps = await chunked(
            clients, lambda c: store.register_application(c, None, "com.app.x", 64)
        )
        with_apps = await used_memory(store)
        outgoing = [Outgoing(r, "x" * payload, 86400) for r in apps]
        await chunked(outgoing, lambda item: store.send(item, 1000, EVERY_APPLICATION))
        pending = await used_memory(store)
        await chunked(clients, lambda c: deliver(store, c))
        final = await used_memory(store)
    print(
        f"{count} devices, payload {payload} B: per registered device "
        f"{(registered - empty) / count:.0f} B, per application "
        f"{(with_apps - registered) / count:.0f} B, per pending notification "
        f"{(pending - with_apps) / count:.0f} B, per final status "
        f"{(final - with_apps) / count:.0f} B"
    )


async def deliver(store: Store, client_id: str) -> None:
    """Activate, read the one notification, acknowledge it, release the channel."""
    tag, conn = client_tag(client_id), "probe-" + client_id[:8]
    epoch = await store.activate(client_id, None, "probe", conn)
    (note,) = await channel_step(store, (tag, epoch, 0, 10), {}) or []
    await channel_step(store, (tag, epoch, note.seq, 0), {note.notification_id: True})
    await store.release(tag, "probe", conn)


async def channel_step(
    store: Store,
    where: tuple[str, int, int, int],
    acks: dict[str, bool],
    marks: Sequence[str] = (),
) -> list[Pending] | None:
    """One round trip of a channel: record ``marks`` (written from a doorbell) as sent,
    acknowledge, then read up to ``limit`` after ``after_seq``; ``where`` is (tag, epoch,
    after_seq, limit), see ``Store.begin_sync``."""
    done = store.begin_sync(*where, acks, marks)
    with contextlib.suppress(Exception):
        await done
    return store.end_sync(done, acks)


async def idle(count: int, seconds: float, node_args: list[str]) -> None:
    server = EmbeddedRedis(port=free_port())
    server.start()
    args = ["--connect-rate", "100000", *node_args]
    node = NodeProcess(server.url, Path(tempfile.mkdtemp()), "idle-probe", args).start()
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            devices = await chunked(range(count), lambda i: activated(http, node.ws_url, i))
            await asyncio.sleep(5)  # past the activations' own reads
            before, cpu_before = await counters(client)
            await asyncio.sleep(seconds)
            after, cpu_after = await counters(client)
            for device in devices:
                await device.close()
    finally:
        await client.aclose()
        node.stop()
        server.remove()
    calls = {name: after[name] - before.get(name, 0) for name in after}
    calls = {name: n for name, n in calls.items() if n and name != "info"}
    total = sum(calls.values())
    print(
        f"{count} idle channels, {seconds:.0f} s: {calls}; Redis CPU {cpu_after - cpu_before:.3f} s"
    )
    print(f"{total / count / seconds * 60:.3f} commands per idle device per minute")


async def activated(http: aiohttp.ClientSession, url: str, index: int) -> Device:
    device = await Device.connect(url, session=http)
    client_id = await device.register(f"idle-{index}")
    await device.register_application(client_id, "com.app.x")
    await device.activate(client_id)
    return device


async def counters(client: Any) -> tuple[dict[str, int], float]:
    stats = await client.info("commandstats")
    cpu = await client.info("cpu")
    calls = {key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in stats.items()}
    return calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


async def server_cpu(store: Store) -> float:
    """Seconds of CPU the server has used (``INFO cpu``)."""
    fields = await info(store, "cpu")
    return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])


async def script_cost(count: int, rounds: int) -> None:
    async with fresh_store() as store:
        clients = await chunked([f"cost-{i}" for i in range(count)], store.register)
        apps = await chunked(clients, lambda c: store.register_application(c, None, "com.x", 5))
        epochs = await chunked(clients, lambda c: store.activate(c, None, "probe", "conn"))
        outgoing = [Outgoing(r, "x" * 64, 600) for r in apps]
        await store.link.submit([("CONFIG", "RESETSTAT")])
        started = await server_cpu(store)
        for _ in range(rounds):
            sent = await chunked(outgoing, lambda item: store.send(item, 1000, EVERY_APPLICATION))
            await chunked(
                [(client_tag(c), e, a) for c, e, a in zip(clients, epochs, sent, strict=True)],
                lambda step: doorbell_step(store, *step),
            )
        cpu = await server_cpu(store) - started
        stats = await info(store, "commandstats")
    total = count * rounds
    fields = {name: value for name, value in stats.items() if name.startswith("cmdstat_")}
    scripts = dict(part.split("=") for part in fields["cmdstat_evalsha"].split(","))
    commands = sum(int(value.split(",")[0].split("=")[1]) for value in fields.values())
    print(
        f"{total} notifications: {int(scripts['usec']) / total:.1f} us in scripts and "
        f"{commands / total:.1f} commands per notification (sent and acknowledged), "
        f"{cpu * 1e6 / total:.1f} us of server CPU"
    )


async def doorbell_step(store: Store, tag: str, epoch: int, accepted: Accepted) -> None:
    """The channel step of a notification its channel wrote from a doorbell (the
    notification came with it): its mark and its acknowledgement in one round trip."""
    doorbell = accepted.ring_here
    after = doorbell.note.seq if doorbell is not None and doorbell.note is not None else 0
    nid = accepted.notification_id
    await channel_step(store, (tag, epoch, after, 1), {nid: True}, [nid])


def main(argv: list[str]) -> None:
    kind, rest = (argv[0] if argv else "memory"), argv[1:]
    if kind == "memory":
        asyncio.run(memory(int(rest[0]) if rest else 20000, int(rest[1]) if rest[1:] else 64))
    elif kind == "idle":
        count = int(rest[0]) if rest else 2000
        seconds = float(rest[1]) if rest[1:] else 60.0
        asyncio.run(idle(count, seconds, rest[2:]))
    elif kind == "scripts":
        asyncio.run(script_cost(int(rest[0]) if rest else 200, int(rest[1]) if rest[1:] else 50))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
