"""The Python device client's reconnection against real nodes: a drain, a kill -9, a
supersede and a deregistration elsewhere, with nothing lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.client import AppServer, Backoff, Device, DeviceClosed
from tests.calls import status_is
from tests.conftest import device_number, wait_for

FAST = Backoff(base=0.05, cap=0.3)


class Recorder:
    """The events a device reports, in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event["event"] for event in self.events]

    def first(self, kind: str) -> dict[str, Any]:
        return next(event for event in self.events if event["event"] == kind)


async def reconnecting_device(urls: list[str], http: Any, events: Recorder) -> Device:
    return await Device.connect(urls, session=http, reconnect=FAST, on_event=events)


async def ready(device: Device) -> tuple[str, str]:
    client_id = await device.register(device_number())
    await device.activate(client_id)
    return client_id, await device.register_application(client_id, "com.example.mail")


async def receive_all(device: Device, expected: set[str], timeout: float = 15) -> list[str]:
    """Receive and acknowledge until every expected notificationID came; the IDs in order."""
    received: list[str] = []
    deadline = time.monotonic() + timeout
    while not expected <= set(received):
        note = await device.next_notification(timeout=max(0.1, deadline - time.monotonic()))
        received.append(note["notificationID"])
        await device.acknowledge(note["notificationID"])
    return received


async def send_many(api: AppServer, registration_id: str, count: int, label: str) -> list[str]:
    sent = []
    for index in range(count):
        status, body = await api.send(registration_id, f"{label} {index}")
        assert status == 202
        sent.append(body["notificationID"])
    return sent


async def all_delivered(api: AppServer, ids: list[str]) -> None:
    for notification_id in ids:
        await wait_for(lambda nid=notification_id: status_is(api, nid, "delivered"), timeout=10)


@pytest.mark.parametrize("how", ["drain", "kill"])
async def test_reconnects_to_the_other_node_and_loses_nothing(start_node, http, how):
    first = start_node(drain_window=0.2, drain_grace=5)
    second = start_node()
    api = AppServer(second.url, http)
    events = Recorder()
    device = await reconnecting_device([first.ws_url, second.ws_url], http, events)
    client_id, registration_id = await ready(device)
    before = await send_many(api, registration_id, 3, "before")
    await receive_all(device, set(before))
    unacknowledged = (await send_many(api, registration_id, 1, "held"))[0]
    assert (await device.next_notification(timeout=5))["notificationID"] == unacknowledged
    if how == "drain":
        first.stop()
    else:
        first.kill()
    meanwhile = await send_many(api, registration_id, 5, "meanwhile")
    received = await receive_all(device, set(meanwhile))
    await device.acknowledge(unacknowledged)  # answered late: after the reconnection
    assert len(received) == len(set(received))  # each notification handed over once
    await all_delivered(api, [*before, unacknowledged, *meanwhile])
    closed = events.first("closed")
    assert closed["code"] == (1001 if how == "drain" else 1006) and closed["reconnecting"]
    reconnected = events.first("reconnected")
    assert reconnected["clientID"] == client_id and reconnected["url"] == second.ws_url
    assert device.reconnects == 1 and device.url == second.ws_url
    await device.close()


async def test_a_superseded_device_takes_its_channel_back(node, http, connect):
    events = Recorder()
    device = await reconnecting_device([node.ws_url], http, events)
    client_id, registration_id = await ready(device)
    other = await connect(node.ws_url)
    await other.activate(client_id)  # 4001 for the device, which activates again
    assert await other.wait_closed(timeout=10) == 4001
    api = AppServer(node.url, http)
    sent = await send_many(api, registration_id, 5, "after")
    await receive_all(device, set(sent))
    await all_delivered(api, sent)
    assert events.first("closed")["code"] == 4001 and device.reconnects == 1


async def test_registers_again_when_the_client_is_gone(node, http, connect):
    events = Recorder()
    device = await reconnecting_device([node.ws_url], http, events)
    client_id, _ = await ready(device)
    other = await connect(node.ws_url)
    await other.deregister(client_id)  # 4002 for the device: activation then answers 404
    await wait_for(lambda: "reregistered" in events.kinds(), timeout=10)
    again = events.first("reregistered")
    assert again["previousClientID"] == client_id and again["clientID"] != client_id
    registration_id = again["registrationIDs"]["com.example.mail"]
    await device.wait_reconnected(timeout=10)
    api = AppServer(node.url, http)
    sent = await send_many(api, registration_id, 2, "re-registered")
    await receive_all(device, set(sent))
    assert events.first("closed")["code"] == 4002 and device.channel_client == again["clientID"]


async def test_no_reconnection_after_its_own_deregistration(start_node, http):
    node = start_node(drain_window=0.2, drain_grace=5)
    events = Recorder()
    device = await reconnecting_device([node.ws_url], http, events)
    client_id, _ = await ready(device)
    await device.deregister(client_id)
    node.stop()
    with pytest.raises(DeviceClosed):
        await device.next_notification(timeout=10)
    assert events.kinds() == ["closed"] and events.events[0]["reconnecting"] is False
    await device.close()


async def test_waiting_on_a_closed_device_raises_at_once(node, http, connect):
    device = await connect(node.ws_url)  # no reconnection
    client_id, _ = await ready(device)
    waiting = asyncio.create_task(device.next_notification(timeout=30))
    other = await connect(node.ws_url)
    await other.activate(client_id)
    started = time.monotonic()
    with pytest.raises(DeviceClosed, match="4001"):
        await waiting
    with pytest.raises(DeviceClosed):
        await device.next_notification(timeout=30)
    assert time.monotonic() - started < 5


async def test_gives_up_after_max_attempts(start_node, http):
    node = start_node(drain_window=0.2, drain_grace=5)
    events = Recorder()
    policy = Backoff(base=0.01, cap=0.05, max_attempts=3)
    device = await Device.connect(node.ws_url, session=http, reconnect=policy, on_event=events)
    await ready(device)
    node.kill()
    with pytest.raises(DeviceClosed):
        await device.next_notification(timeout=10)
    assert events.kinds().count("reconnecting") == 3 and events.kinds()[-1] == "gave-up"
    await device.close()
