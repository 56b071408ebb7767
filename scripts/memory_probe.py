#!/usr/bin/env python3
"""Where a held connection's memory goes: tracemalloc over N connections to an in-process node.

Usage: ``python scripts/memory_probe.py [N]`` (default 2000). Starts an embedded
valkey-server and one node in this process, opens N devices (register, activate,
one application) from a child process, and prints the Python heap growth per
connection, by file and by line.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc

import uvloop

from gateway.client import Device
from gateway.node.app import listen, start_serving
from gateway.node.embedded import EmbeddedRedis
from gateway.node.node import Node
from gateway.runtime.settings import Settings

HOLD_SECONDS = 120


async def hold_devices(port: int, count: int) -> None:
    """Child process: open ``count`` devices, print ``ready``, hold them."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        gate = asyncio.Semaphore(100)
        devices = []

        async def one(index: int) -> None:
            async with gate:
                device = await Device.connect(f"http://127.0.0.1:{port}/ws", session=session)
                client_id = await device.register(f"probe-{index}")
                await device.activate(client_id)
                await device.register_application(client_id, "com.example.probe")
                devices.append(device)

        await asyncio.gather(*(one(i) for i in range(count)))
        print("ready", flush=True)
        await asyncio.sleep(HOLD_SECONDS)


async def probe(count: int) -> None:
    redis = EmbeddedRedis()
    redis.start()
    settings = Settings(
        node_id="probe",
        port=0,
        redis_url=redis.url,
        connect_rate=1e6,
        address_connect_rate=1e6,
        address_register_rate=1e6,
    )
    node = Node.create(settings)
    listener = listen("127.0.0.1", 0)
    runner, _ = await start_serving(node, listener)
    port = listener.getsockname()[1]
    try:
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--child",
            str(port),
            str(count),
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        async with asyncio.timeout(HOLD_SECONDS):
            await child.stdout.readline()
        gc.collect()
        after = tracemalloc.take_snapshot()
        child.kill()
        await child.wait()
        by_file = after.compare_to(before, "filename")
        total = sum(stat.size_diff for stat in by_file)
        print(f"Python heap per connection: {total / count / 1024:.1f} KiB")
        for stat in by_file[:12]:
            print(f"{stat.size_diff / count:8.0f} B {stat.traceback[0].filename}")
        for stat in after.compare_to(before, "lineno")[:15]:
            frame = stat.traceback[0]
            print(f"{stat.size_diff / count:8.0f} B {frame.filename}:{frame.lineno}")
    finally:
        await runner.cleanup()
        redis.remove()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        uvloop.run(hold_devices(int(sys.argv[2]), int(sys.argv[3])))
    else:
        uvloop.run(probe(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
