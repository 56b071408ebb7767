"""Delivery across several node processes: to a channel on another node, in order, over the bus."""

from __future__ import annotations

import time

from gateway.client import AppServer
from gateway.store import keys
from tests.calls import ID, ready_device, status_is, status_of
from tests.conftest import wait_for


async def test_send_through_one_node_to_channel_on_another(three_nodes, connect, http):
    a, _, c = three_nodes
    api = AppServer(c.url, http)
    device, client_id, registration_id = await ready_device(connect, a.ws_url, activate=False)
    before = int(time.time() * 1000)
    status, body = await api.send(registration_id, "hello", ttl=600)
    assert status == 202 and body["status"] == "queued" and ID.match(body["notificationID"])
    notification_id = body["notificationID"]
    assert await status_of(api, notification_id) == "queued"

    await device.activate(client_id)
    note = await device.next_notification(timeout=5)
    assert note == {
        "messageType": "notificationDeliveryReq",
        "notificationID": notification_id,
        "registrationID": registration_id,
        "applicationID": "com.example.mail",
        "payload": "hello",
        "sentTime": note["sentTime"],
    }
    assert before <= note["sentTime"] <= int(time.time() * 1000)
    assert await status_of(api, notification_id) == "sent"
    await device.acknowledge(notification_id)
    await wait_for(lambda: status_is(api, notification_id, "delivered"), timeout=5)
    _, record = await api.status(notification_id)
    assert record["acceptedTime"] == note["sentTime"]
    assert record["finishedTime"] >= record["acceptedTime"]
    assert record["registrationID"] == registration_id


async def test_many_notifications_many_clients_all_nodes_in_order(three_nodes, connect, http):
    apis = [AppServer(node.url, http) for node in three_nodes]
    devices = [await ready_device(connect, three_nodes[i % 3].ws_url) for i in range(50)]
    sent: dict[str, list[str]] = {reg: [] for _, _, reg in devices}
    for n in range(500):
        _, _, registration_id = devices[n % 50]
        status, body = await apis[n % 3].send(registration_id, f"n{n}")
        assert status == 202
        sent[registration_id].append(body["notificationID"])
    for device, _, registration_id in devices:
        received = []
        for _ in range(10):
            note = await device.next_notification(timeout=10)
            received.append(note["notificationID"])
            assert note["registrationID"] == registration_id
            await device.acknowledge(note["notificationID"])
        assert received == sent[registration_id]
        assert device.notifications.empty()


async def test_unacknowledged_is_redelivered_with_same_id_after_reconnect(
    three_nodes, connect, http
):
    a, b, _ = three_nodes
    api = AppServer(a.url, http)
    first, client_id, registration_id = await ready_device(connect, a.ws_url)
    _, body = await api.send(registration_id, "again")
    note = await first.next_notification(timeout=5)
    await first.close()
    second = await connect(b.ws_url)
    await second.activate(client_id)
    again = await second.next_notification(timeout=5)
    assert again["notificationID"] == note["notificationID"] == body["notificationID"]
    await second.acknowledge(again["notificationID"])
    await wait_for(lambda: status_is(api, body["notificationID"], "delivered"), timeout=5)


async def test_doorbell_goes_over_the_bus_only_to_another_node(
    start_node, connect, http, deployment
):
    holder, other = start_node(), start_node()
    device, _, registration_id = await ready_device(connect, holder.ws_url)
    async with deployment.listener(keys.bus_channel(holder.node_id)) as bus:

        async def rings() -> list[str]:
            """Doorbells seen on the holder's bus channel until it stays quiet for 0.3 s."""
            seen = []
            while message := await bus.get_message(timeout=0.3):
                verb, tag, *_ = message["data"].split(" ")
                if verb in ("ring", "note"):
                    seen.append(f"{verb} {tag}")
            return seen

        await rings()
        # Accepted by the node holding the channel: it rings the channel itself.
        _, body = await AppServer(holder.url, http).send(registration_id, "local")
        assert (await device.next_notification(timeout=5))["notificationID"] == body[
            "notificationID"
        ]
        assert await rings() == []
        # Accepted elsewhere: the doorbell crosses the bus, carrying the notification.
        _, body = await AppServer(other.url, http).send(registration_id, "remote")
        assert (await device.next_notification(timeout=5))["notificationID"] == body[
            "notificationID"
        ]
        assert await rings() == [f"note {registration_id[:11]}"]
        # One with a collapseKey is only rung: it is read (and marked sent) from Redis.
        _, body = await AppServer(other.url, http).send(registration_id, "c", collapseKey="k")
        assert (await device.next_notification(timeout=5))["notificationID"] == body[
            "notificationID"
        ]
        assert await rings() == [f"ring {registration_id[:11]}"]
