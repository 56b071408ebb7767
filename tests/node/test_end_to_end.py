"""One notification end to end through a real node and Redis."""

from __future__ import annotations

from tests.conftest import device_number


async def test_one_notification_end_to_end(node, connect, app_server) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    await device.activate(client_id)
    registration_id = await device.register_application(client_id, "com.example.mail")
    status, body = await app_server.send(registration_id, "hello")
    assert status == 202 and body["status"] == "queued"
    note = await device.next_notification(timeout=5)
    assert note["payload"] == "hello" and note["notificationID"] == body["notificationID"]
