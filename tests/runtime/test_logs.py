"""Logs: one JSON object per line naming the node; never payloads or clientIDs; IDs only at
debug level; one line per connection and a periodic summary a person can follow."""

from __future__ import annotations

import json

from gateway.client import AppServer, Device
from tests.auth import api_key, hmac_secret, write
from tests.conftest import device_number, wait_for


async def test_json_lines_name_the_node_and_hide_secrets(start_node, http):
    node = start_node(log_level="debug")
    device = await Device.connect(node.ws_url, session=http)
    try:
        client_id = await device.register(device_number())
        await device.activate(client_id)
        registration_id = await device.register_application(client_id, "com.example.mail")
        secret_payload = "very-secret-payload-4711"
        _, body = await AppServer(node.url, http).send(registration_id, secret_payload)
        await device.next_notification(timeout=5)
        await device.send_text("{broken")
        await device.request({"messageType": "bogus"}, timeout=5)
    finally:
        await device.close()
    node.stop()
    raw = node.log_path.read_text()
    lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert lines and all(line["node"] == node.node_id for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    # Debug level may name notifications and clients' tags, never payloads or clientIDs.
    for secret in (secret_payload, client_id):
        assert secret not in raw
    assert body["notificationID"] in raw and client_id[:11] in raw
    ready = [line for line in lines if line["message"].startswith("ready on")]
    assert ready and ready[0]["port"] == node.port and "redis" in ready[0]
    warnings = [line for line in lines if line["level"] == "warning"]
    assert any("API is open" in line["message"] for line in warnings)


async def test_text_format(start_node):
    node = start_node(log_format="text")
    node.stop()
    text = node.log_path.read_text()
    assert f"[{node.node_id}]" in text and "ready on" in text
    assert not text.lstrip().startswith("{")


async def test_start_warns_only_about_what_is_open(start_node, tmp_path):
    """Warnings (level warning) for an open API and an open upgrade, and none once both
    have credentials."""
    open_node = start_node()
    keyed = start_node(
        api_keys_file=write(tmp_path / "api-keys", f"{api_key()} *\n".encode()),
        device_jwt_key=write(tmp_path / "device.secret", hmac_secret()),
    )
    for node, warned in ((open_node, True), (keyed, False)):
        warnings = [line["message"] for line in node.log_lines() if line["level"] == "warning"]
        assert any("API is open" in message for message in warnings) is warned
        assert any("upgrade is open" in message for message in warnings) is warned


async def test_info_lines_follow_connections_without_ids(start_node, http):
    node = start_node(log_summary_interval=1)
    number = device_number()
    device = await Device.connect(node.ws_url, session=http)
    client_id = await device.register(number)
    await device.activate(client_id)
    registration_id = await device.register_application(client_id, "com.example.mail")
    payload = "payload-never-logged-0815"
    _, body = await AppServer(node.url, http).send(registration_id, payload)
    note = await device.next_notification(timeout=5)
    await device.acknowledge(note["notificationID"])
    await device.close()

    def summary_with_delivery() -> dict[str, object] | None:
        for line in node.log_lines():
            if line["logger"] == "gateway.summary" and line["notifications"]["delivered"]:
                return line
        return None

    summary = await wait_for(summary_with_delivery, timeout=10)
    assert summary["level"] == "info" and {"connections", "channels"} <= summary.keys()
    assert "delivered" in summary["message"]
    node.stop()
    raw = node.log_path.read_text()
    for secret in (number, client_id, client_id[:11], registration_id, body["notificationID"]):
        assert secret not in raw
    assert payload not in raw
    lines = [line for line in node.log_lines() if line["logger"] == "gateway.connections"]
    opened = [line for line in lines if line["message"].startswith("connection opened")]
    closed = [line for line in lines if line["message"].startswith("connection closed")]
    assert len(opened) == 1 and opened[0]["level"] == "info"
    assert len(closed) == 1 and closed[0]["code"] == 1000
    assert 0 < closed[0]["duration_seconds"] < 30
    assert "connection" not in closed[0]  # the connection's ID only at debug level
