"""Logs: one JSON object per line naming the node; never payloads or capabilities."""

from __future__ import annotations

import json

from gateway.client import AppServer, Device
from tests.auth import api_key, hmac_secret, write
from tests.conftest import device_number


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
    for secret in (secret_payload, client_id, registration_id, body["notificationID"]):
        assert secret not in raw
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
