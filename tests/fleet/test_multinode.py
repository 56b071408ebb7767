"""Several node processes sharing one Redis: any node serves any client."""

from __future__ import annotations

import time

from gateway.client import AppServer
from tests.conftest import device_number


async def test_deregistration_on_third_node_closes_channel_with_4002(three_nodes, connect):
    a, b, c = three_nodes
    registrar = await connect(a.ws_url)
    client_id = await registrar.register(device_number())
    channel = await connect(b.ws_url)
    await channel.activate(client_id)
    other = await connect(c.ws_url)
    started = time.monotonic()
    await other.deregister(client_id)
    assert await channel.wait_closed(timeout=2) == 4002
    assert time.monotonic() - started < 1.0
    assert channel.close_reason == "deregistered"
    assert not other.closed.is_set()
    response = await other.request(
        {"messageType": "notificationChannelActivationReq", "clientID": client_id}
    )
    assert response["code"] == 404


async def test_activation_on_another_node_supersedes_with_4001(three_nodes, connect, http):
    a, b, _ = three_nodes
    first = await connect(a.ws_url)
    client_id = await first.register(device_number())
    await first.activate(client_id)
    second = await connect(b.ws_url)
    await second.activate(client_id)
    assert await first.wait_closed(timeout=2) == 4001
    assert first.close_reason == "superseded"
    status, info = await AppServer(a.url, http).client(client_id)
    assert status == 200 and info["channel"] == {"active": True, "node": b.node_id}


async def test_deactivation_from_another_node_stops_pushes(three_nodes, connect, http):
    a, b, c = three_nodes
    holder = await connect(a.ws_url)
    client_id = await holder.register(device_number())
    await holder.activate(client_id)
    registration_id = await holder.register_application(client_id, "com.example.mail")
    other = await connect(b.ws_url)
    await other.deactivate(client_id)
    status, body = await AppServer(c.url, http).send(registration_id, "after deactivation")
    assert status == 202
    status, info = await AppServer(c.url, http).client(client_id)
    assert info["channel"]["active"] is False and info["pendingNotifications"] == 1
    assert holder.notifications.empty() and not holder.closed.is_set()
    await holder.activate(client_id)
    note = await holder.next_notification(timeout=5)
    assert note["notificationID"] == body["notificationID"]


async def test_application_registered_on_one_node_is_known_on_all(three_nodes, connect, http):
    a, b, c = three_nodes
    device = await connect(a.ws_url)
    client_id = await device.register(device_number())
    registration_id = await device.register_application(client_id, "com.example.chat")
    again = await connect(b.ws_url)
    assert await again.register_application(client_id, "com.example.chat") == registration_id
    status, info = await AppServer(c.url, http).client(client_id)
    assert info["applications"] == [
        {"applicationID": "com.example.chat", "registrationID": registration_id}
    ]
    await again.deregister_application(client_id, "com.example.chat")
    status, _ = await AppServer(c.url, http).send(registration_id, "x")
    assert status == 404
