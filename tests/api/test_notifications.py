"""Notifications end to end: API, store-and-forward, delivery, acknowledgement, expiry."""

from __future__ import annotations

from gateway.client import AppServer
from tests.calls import ready_device, status_is, status_of
from tests.conftest import wait_for


async def test_location_header_and_introspection(node, connect, http):
    api = AppServer(node.url, http)
    _, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    async with http.post(
        node.url + "/v1/notifications", json={"registrationID": registration_id, "payload": "x"}
    ) as response:
        body = await response.json()
        assert response.status == 202
        assert response.headers["Location"] == f"/v1/notifications/{body['notificationID']}"
    status, info = await api.client(client_id)
    assert status == 200
    assert info["clientID"] == client_id and info["pendingNotifications"] == 1
    assert info["channel"] == {"active": False}
    assert info["applications"] == [
        {"applicationID": "com.example.mail", "registrationID": registration_id}
    ]
    assert (await api.client("unknown"))[0] == 404


async def test_non_200_acknowledgement_ends_rejected_and_is_not_resent(node, connect, app_server):
    device, client_id, registration_id = await ready_device(connect, node.ws_url)
    _, body = await app_server.send(registration_id, "unwanted")
    note = await device.next_notification(timeout=5)
    await device.acknowledge(note["notificationID"], code=404)
    await wait_for(lambda: status_is(app_server, body["notificationID"], "rejected"), timeout=5)
    await device.activate(client_id)
    _, later = await app_server.send(registration_id, "wanted")
    assert (await device.next_notification(timeout=5))["notificationID"] == later["notificationID"]


async def test_ttl_expiry_and_zero_ttl(node, connect, app_server):
    device, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    _, short = await app_server.send(registration_id, "short", ttl=1)
    _, zero = await app_server.send(registration_id, "now or never", ttl=0)
    await wait_for(lambda: status_is(app_server, zero["notificationID"], "expired"), timeout=2)
    await wait_for(lambda: status_is(app_server, short["notificationID"], "expired"), timeout=5)
    _, record = await app_server.status(short["notificationID"])
    assert record["finishedTime"] - record["acceptedTime"] >= 1000
    await device.activate(client_id)
    _, live = await app_server.send(registration_id, "live", ttl=0)
    note = await device.next_notification(timeout=5)
    assert note["notificationID"] == live["notificationID"]  # the expired ones never come


async def test_collapse_key_replaces_queued_only(node, connect, app_server):
    device, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    _, old = await app_server.send(registration_id, "3 unread", collapseKey="inbox")
    _, new = await app_server.send(registration_id, "4 unread", collapseKey="inbox")
    _, other = await app_server.send(registration_id, "other", collapseKey="calendar")
    assert await status_of(app_server, old["notificationID"]) == "cancelled"
    await device.activate(client_id)
    first = await device.next_notification(timeout=5)
    second = await device.next_notification(timeout=5)
    assert [first["payload"], second["payload"]] == ["4 unread", "other"]
    # A sent (not yet acknowledged) notification is not replaced.
    _, newer = await app_server.send(registration_id, "5 unread", collapseKey="inbox")
    assert await status_of(app_server, new["notificationID"]) == "sent"
    assert (await device.next_notification(timeout=5))["notificationID"] == newer["notificationID"]
    assert other["notificationID"] != newer["notificationID"]


async def test_payload_size_limit_counts_utf8_bytes(node, connect, app_server):
    _, _, registration_id = await ready_device(connect, node.ws_url, activate=False)
    assert (await app_server.send(registration_id, "a" * 4096))[0] == 202
    assert (await app_server.send(registration_id, "é" * 2048))[0] == 202
    status, body = await app_server.send(registration_id, "a" * 4097)
    assert status == 413 and body["code"] == 413 and "payload" in body["detail"]
    assert (await app_server.send(registration_id, "é" * 2049))[0] == 413
    assert (await app_server.send(registration_id, ""))[0] == 202


async def test_flow_control_window(start_node, connect, http):
    node = start_node(inflight_window=4)
    api = AppServer(node.url, http)
    device, client_id, registration_id = await ready_device(connect, node.ws_url)
    ids = [(await api.send(registration_id, f"n{n}"))[1]["notificationID"] for n in range(10)]
    first = [await device.next_notification(timeout=5) for _ in range(4)]
    assert [note["notificationID"] for note in first] == ids[:4]
    # Nothing beyond the window is written while the four are unacknowledged.
    assert [await status_of(api, i) for i in ids] == ["sent"] * 4 + ["queued"] * 6
    await device.acknowledge(first[0]["notificationID"])
    fifth = await device.next_notification(timeout=5)
    assert fifth["notificationID"] == ids[4]
    assert await status_of(api, ids[5]) == "queued"
    for note in [*first[1:], fifth]:
        await device.acknowledge(note["notificationID"])
    rest = [await device.next_notification(timeout=5) for _ in range(4)]
    assert [note["notificationID"] for note in rest] == ids[5:9]
    assert await status_of(api, ids[9]) == "queued"
    await device.acknowledge(rest[0]["notificationID"])
    assert (await device.next_notification(timeout=5))["notificationID"] == ids[9]
    _, info = await api.client(client_id)
    assert info["pendingNotifications"] == 4


async def test_batch_keeps_order_and_reports_each_entry(node, connect, app_server):
    device, _, registration_id = await ready_device(connect, node.ws_url)
    batch = [
        {"registrationID": registration_id, "payload": "one"},
        {"registrationID": "unknown-registration", "payload": "x"},
        {"registrationID": registration_id, "payload": "two", "ttl": "60"},
        {"registrationID": registration_id, "payload": "a" * 4097},
        {"registrationID": registration_id, "payload": "three", "collapseKey": "k"},
        5,
    ]
    status, body = await app_server.send_batch(batch)
    assert status == 200
    results = body["results"]
    assert [r.get("status") or r["code"] for r in results] == [
        "queued",
        404,
        400,
        413,
        "queued",
        400,
    ]
    assert results[2]["detail"].startswith("notifications[2].ttl: ")
    assert results[5]["detail"].startswith("notifications[5]: expected `object`")
    received = [(await device.next_notification(timeout=5))["payload"] for _ in range(2)]
    assert received == ["one", "three"]
    too_many = [{"registrationID": registration_id, "payload": "x"}] * 501
    status, body = await app_server.send_batch(too_many)
    assert status == 400 and "notifications" in body["detail"]


async def test_bad_send_bodies_get_400_naming_the_field(node, app_server):
    cases = {
        b"not json": "JSON",
        b'{"payload": "x"}': "registrationID",
        b'{"registrationID": "r", "payload": 5}': "payload",
        b'{"registrationID": "r", "payload": "x", "ttl": true}': "ttl",
        b'{"registrationID": "r", "payload": "x", "ttl": 1.5}': "ttl",
        b'{"registrationID": "r", "payload": "x", "ttl": null}': "ttl",
        b'{"registrationID": "r", "payload": "x", "ttl": -1}': "ttl",
        b'{"registrationID": "r", "payload": "x", "ttl": 2419201}': "ttl",
        b'{"registrationID": "r", "payload": "x", "collapseKey": ""}': "collapseKey",
    }
    for raw, field in cases.items():
        status, body = await app_server.call("POST", "/v1/notifications", raw)
        assert status == 400, raw
        assert body["code"] == 400 and body["desc"] == "Bad Request"
        assert field in body["detail"], (raw, body)
    status, body = await app_server.send("no-such-registration", "x")
    assert status == 404 and body["desc"] == "Not Found"


async def test_unknown_api_paths_and_methods_get_json_errors(node, app_server, http):
    status, body = await app_server.call("POST", "/v1/nothing-here", b"{}")
    assert status == 404 and body["code"] == 404 and "path" in body["detail"]
    async with http.put(node.url + "/v1/notifications") as response:
        assert response.status == 405 and response.headers["Allow"] == "POST"
        body = await response.json()
    assert body["desc"] == "Method Not Allowed" and "PUT" in body["detail"]
    status, _ = await app_server.call("PATCH", "/v1/notifications/some-id")
    assert status == 405


async def test_cancel(node, connect, app_server):
    device, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    _, queued = await app_server.send(registration_id, "cancel me")
    _, kept = await app_server.send(registration_id, "keep me")
    assert (await app_server.cancel(queued["notificationID"]))[0] == 204
    assert await status_of(app_server, queued["notificationID"]) == "cancelled"
    assert (await app_server.cancel(queued["notificationID"]))[0] == 409
    assert (await app_server.cancel("A" * 33))[0] == 404
    assert (await app_server.status("A" * 33))[0] == 404
    await device.activate(client_id)
    note = await device.next_notification(timeout=5)
    assert note["notificationID"] == kept["notificationID"]


async def test_backlog_cap_answers_429_and_drops_nothing(start_node, connect, http):
    node = start_node(max_pending=5)
    api = AppServer(node.url, http)
    device, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    accepted = [(await api.send(registration_id, f"n{n}"))[1]["notificationID"] for n in range(5)]
    status, body = await api.send(registration_id, "one too many")
    assert status == 429 and body["code"] == 429
    await device.activate(client_id)
    received = [(await device.next_notification(timeout=5))["notificationID"] for _ in range(5)]
    assert received == accepted


async def test_deregistration_cancels_pending(node, connect, app_server):
    device, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    _, first = await app_server.send(registration_id, "a")
    await device.deregister_application(client_id, "com.example.mail")
    assert await status_of(app_server, first["notificationID"]) == "cancelled"
    assert (await app_server.send(registration_id, "b"))[0] == 404
    second_reg = await device.register_application(client_id, "com.example.chat")
    _, second = await app_server.send(second_reg, "c")
    await device.deregister(client_id)
    assert await status_of(app_server, second["notificationID"]) == "cancelled"
    assert (await app_server.send(second_reg, "d"))[0] == 404


async def test_lost_doorbell_is_caught_up(start_node, connect, http, deployment):
    node = start_node(catchup_interval=0.5)
    api = AppServer(node.url, http)
    device, client_id, registration_id = await ready_device(connect, node.ws_url)
    async with deployment.client() as client:
        key = f"aoi:{{{client_id[:11]}}}:client"
        owner = await client.hget(key, "node")
        await client.hdel(key, "node")  # the send script now rings nobody
        _, body = await api.send(registration_id, "no doorbell")
        await client.hset(key, "node", owner)
        note = await device.next_notification(timeout=5)
        assert note["notificationID"] == body["notificationID"]
        # A listener killed by Redis (doorbells in flight lost) resubscribes and re-scans.
        await deployment.kill_pubsub_clients(client)
        _, body = await api.send(registration_id, "during reconnect")
        note = await device.next_notification(timeout=5)
        assert note["notificationID"] == body["notificationID"]


async def test_notification_metrics(node, connect, app_server, http):
    device, _, registration_id = await ready_device(connect, node.ws_url)
    _, body = await app_server.send(registration_id, "count me")
    note = await device.next_notification(timeout=5)
    await device.acknowledge(note["notificationID"])
    await wait_for(lambda: status_is(app_server, body["notificationID"], "delivered"), timeout=5)
    async with http.get(node.url + "/metrics") as response:
        text = await response.text()
    for outcome in ("accepted", "sent", "delivered"):
        assert f'aoi_notifications_total{{outcome="{outcome}"}} 1.0' in text
    assert "aoi_delivery_latency_seconds_count 1.0" in text
    assert 'aoi_http_requests_total{code="202",route="/v1/notifications"} 1.0' in text


async def test_full_batch_of_largest_payloads_is_accepted(node, connect, app_server):
    _, _, registration_id = await ready_device(connect, node.ws_url, activate=False)
    batch = [{"registrationID": registration_id, "payload": "é" * 2048}] * 500
    status, body = await app_server.send_batch(batch)
    assert status == 200
    assert [result["status"] for result in body["results"]] == ["queued"] * 500
    status, body = await app_server.call("POST", "/v1/notifications:batch", b" " * (17 << 20))
    assert status == 413 and body["code"] == 413
