"""Drain on SIGTERM: not ready at once, websockets closed with 1001, exit 0 in time."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from gateway.client import AppServer, Device
from tests.conftest import device_number, wait_for

DEVICES = 10


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_drain_closes_with_1001_and_loses_nothing(start_node, http, signum):
    draining = start_node(drain_window=2, drain_grace=6)
    other = start_node()
    api = AppServer(other.url, http)
    devices, clients, pending = [], [], []
    for _ in range(DEVICES):
        device = await Device.connect(draining.ws_url, session=http)
        client_id = await device.register(device_number())
        await device.activate(client_id)
        registration_id = await device.register_application(client_id, "com.app")
        _, body = await api.send(registration_id, "unacknowledged")
        await device.next_notification(timeout=5)  # received, never acknowledged
        devices.append(device)
        clients.append(client_id)
        pending.append(body["notificationID"])

    draining.signal(signum)
    signalled = time.monotonic()
    await wait_for(lambda: draining.http_status("/readyz") == 503, timeout=1)
    async with http.get(draining.url + "/ws", headers=_upgrade_headers()) as refused:
        assert refused.status == 503 and int(refused.headers["Retry-After"]) >= 1
    codes = [await device.wait_closed(timeout=6) for device in devices]
    assert codes == [1001] * DEVICES
    assert await asyncio.to_thread(draining.wait, 10) == 0
    assert time.monotonic() - signalled < 6
    assert any(line.get("message") == "stopped" for line in draining.log_lines())

    for client_id, notification_id in zip(clients, pending, strict=True):
        _, info = await api.client(client_id)
        assert info["channel"] == {"active": False}  # ownership released
        device = await Device.connect(other.ws_url, session=http)
        devices.append(device)
        await device.activate(client_id)
        assert (await device.next_notification(timeout=5))["notificationID"] == notification_id
    for device in devices:
        await device.close()


def _upgrade_headers() -> dict[str, str]:
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }


async def test_closes_are_spread_over_the_window(start_node, http):
    draining = start_node(drain_window=2, drain_grace=6)
    devices = [await Device.connect(draining.ws_url, session=http) for _ in range(6)]
    draining.signal(signal.SIGTERM)
    closed_at = []
    for device in devices:
        await device.wait_closed(timeout=6)
        closed_at.append(time.monotonic())
    assert max(closed_at) - min(closed_at) >= 1.0
    assert await asyncio.to_thread(draining.wait, 10) == 0
    for device in devices:
        await device.close()
