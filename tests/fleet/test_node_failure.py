"""A node killed with SIGKILL while notifications keep coming: nothing accepted is lost."""

from __future__ import annotations

import asyncio
import contextlib
import time

from gateway.client import AppServer, Device
from tests.conftest import device_number, wait_for

DEVICES = 20
NOTIFICATIONS = 300
DEADLINE = 60.0


async def test_kill_9_loses_no_accepted_notification(start_node, http):
    victim = start_node(liveness_ttl=2)
    survivors = [start_node(), start_node()]
    apis = [AppServer(node.url, http) for node in survivors]
    devices: list[Device] = []
    clients: list[tuple[str, str]] = []
    for _ in range(DEVICES):
        device = await Device.connect(victim.ws_url, session=http)
        client_id = await device.register(device_number())
        await device.activate(client_id)
        clients.append((client_id, await device.register_application(client_id, "com.app")))
        devices.append(device)
    accepted: list[set[str]] = [set() for _ in range(DEVICES)]
    received: list[set[str]] = [set() for _ in range(DEVICES)]
    done = asyncio.Event()

    async def consume(index: int) -> None:
        device = devices[index]
        client_id = clients[index][0]
        while not done.is_set():
            if device.closed.is_set():
                await device.close()
                device = await Device.connect(survivors[index % 2].ws_url, session=http)
                devices[index] = device
                await device.activate(client_id)
            # A connection dying under us is expected here; the loop reconnects.
            with contextlib.suppress(TimeoutError, ConnectionError):
                note = await device.next_notification(timeout=0.2)
                received[index].add(note["notificationID"])
                await device.acknowledge(note["notificationID"])

    async def produce() -> None:
        for n in range(NOTIFICATIONS):
            if n == NOTIFICATIONS // 3:
                victim.kill()
            index = n % DEVICES
            status, body = await apis[n % 2].send(clients[index][1], f"n{n}")
            assert status == 202, body
            accepted[index].add(body["notificationID"])

    consumers = [asyncio.create_task(consume(i)) for i in range(DEVICES)]
    try:
        async with asyncio.timeout(DEADLINE):
            await produce()
            await wait_for(
                lambda: all(a <= r for a, r in zip(accepted, received, strict=True)), DEADLINE
            )
    finally:
        done.set()
        await asyncio.gather(*consumers, return_exceptions=True)
        for device in devices:
            await device.close()
    lost = sum(len(a - r) for a, r in zip(accepted, received, strict=True))
    assert lost == 0
    assert sum(map(len, accepted)) == NOTIFICATIONS


async def test_dead_node_ownership_stops_counting(start_node, http):
    victim = start_node(liveness_ttl=2)
    other = start_node()
    device = await Device.connect(victim.ws_url, session=http)
    try:
        client_id = await device.register(device_number())
        await device.activate(client_id)
        api = AppServer(other.url, http)
        _, info = await api.client(client_id)
        assert info["channel"] == {"active": True, "node": victim.node_id}
        victim.kill()
        killed = time.monotonic()

        async def inactive() -> bool:
            return (await api.client(client_id))[1]["channel"]["active"] is False

        await wait_for(inactive, timeout=30)
        assert time.monotonic() - killed < 30
    finally:
        await device.close()
