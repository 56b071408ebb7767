"""Idempotent sends (contract 2.6): a repeat within --status-retention stores nothing and
answers with the first notificationID, across nodes and under concurrent repeats."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis

from gateway.client import AppServer
from tests.calls import TIMEOUT, no_notification, ready_device

KEY = "order-4711:attempt.1"


async def notifications_stored(redis_url: str, client_id: str) -> list[str]:
    """The notification hashes of a client in Redis."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        pattern = f"aoi:{{{client_id[:11]}}}:n:*"
        return [key async for key in client.scan_iter(match=pattern, count=1000)]
    finally:
        await client.aclose()


async def test_a_repeated_send_is_replayed(node, connect, app_server, http):
    device, _, registration_id = await ready_device(connect, node.ws_url)
    status, first = await app_server.send(registration_id, "once", idempotency_key=KEY)
    assert status == 202
    async with http.post(
        node.url + "/v1/notifications",
        json={"registrationID": registration_id, "payload": "a different body"},
        headers={"Idempotency-Key": KEY},
    ) as response:
        assert response.status == 202
        assert response.headers["Idempotent-Replayed"] == "true"
        assert response.headers["Location"] == f"/v1/notifications/{first['notificationID']}"
        assert await response.json() == {
            "notificationID": first["notificationID"],
            "status": "queued",
        }
    note = await device.next_notification(TIMEOUT)
    assert note["notificationID"] == first["notificationID"] and note["payload"] == "once"
    await device.acknowledge(note["notificationID"])
    # Still a replay once delivered; the answer still says queued (clarification 7).
    _, again = await app_server.send(registration_id, "once", idempotency_key=KEY)
    assert again == {"notificationID": first["notificationID"], "status": "queued"}
    _, other = await app_server.send(registration_id, "another", idempotency_key=KEY + "2")
    assert other["notificationID"] != first["notificationID"]
    async with http.post(
        node.url + "/v1/notifications", json={"registrationID": registration_id, "payload": "x"}
    ) as response:
        assert "Idempotent-Replayed" not in response.headers
    payloads = [(await device.next_notification(TIMEOUT))["payload"] for _ in range(2)]
    assert payloads == ["another", "x"]
    assert await no_notification(device)


async def test_bad_idempotency_keys_get_400(node, connect, app_server):
    _, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    for bad in ("", "a" * 65, "has space", "slash/", "ünï"):
        status, body = await app_server.call(
            "POST",
            "/v1/notifications",
            {"registrationID": registration_id, "payload": "x"},
            {"Idempotency-Key": bad},
        )
        assert status == 400 and "Idempotency-Key" in body["detail"], bad
    assert await notifications_stored(node.redis_url, client_id) == []


async def test_batch_items_are_replayed_and_share_the_header_key_space(node, connect, app_server):
    _, client_id, registration_id = await ready_device(connect, node.ws_url, activate=False)
    _, by_header = await app_server.send(registration_id, "single", idempotency_key="k-1")
    batch = [
        {"registrationID": registration_id, "payload": "a", "idempotencyKey": "k-1"},
        {"registrationID": registration_id, "payload": "b", "idempotencyKey": "k-2"},
        {"registrationID": registration_id, "payload": "c", "idempotencyKey": "bad key"},
        {"registrationID": registration_id, "payload": "d", "idempotencyKey": 7},
        {"registrationID": registration_id, "payload": "e"},
    ]
    status, body = await app_server.send_batch(batch)
    assert status == 200
    first, second, bad, mistyped, plain = body["results"]
    assert first == {
        "notificationID": by_header["notificationID"],
        "status": "queued",
        "replayed": True,
    }
    assert second["status"] == "queued" and "replayed" not in second
    assert bad["code"] == 400 and bad["detail"].startswith("notifications[2].idempotencyKey")
    assert mistyped["code"] == 400 and "notifications[3].idempotencyKey" in mistyped["detail"]
    assert plain["status"] == "queued"
    _, again = await app_server.send_batch(batch[:2])
    assert [r["notificationID"] for r in again["results"]] == [
        by_header["notificationID"],
        second["notificationID"],
    ]
    assert all(r["replayed"] for r in again["results"])
    assert len(await notifications_stored(node.redis_url, client_id)) == 3  # single, b, e


async def test_concurrent_repeats_on_two_nodes_store_one(start_node, connect, http, redis_server):
    nodes = [start_node(status_retention=120), start_node(status_retention=120)]
    apis = [AppServer(each.url, http) for each in nodes]
    device, client_id, registration_id = await ready_device(connect, nodes[0].ws_url)

    async def attempt(index: int) -> tuple[int, dict, str | None]:
        async with http.post(
            nodes[index % 2].url + "/v1/notifications",
            json={"registrationID": registration_id, "payload": f"attempt {index}"},
            headers={"Idempotency-Key": KEY},
        ) as response:
            return (
                response.status,
                await response.json(),
                response.headers.get("Idempotent-Replayed"),
            )

    async with asyncio.timeout(TIMEOUT):
        answers = await asyncio.gather(*(attempt(index) for index in range(20)))
    assert {status for status, _, _ in answers} == {202}
    assert len({body["notificationID"] for _, body, _ in answers}) == 1
    assert [replayed for _, _, replayed in answers].count(None) == 1  # one stored, 19 replays
    stored = await notifications_stored(redis_server.url, client_id)
    assert len(stored) == 1
    note = await device.next_notification(TIMEOUT)
    assert await no_notification(device)
    # A later repeat on the other node is a replay too; the record sits in the client's slot
    # and lives for --status-retention.
    _, later = await apis[1].send(registration_id, "later", idempotency_key=KEY)
    assert later["notificationID"] == note["notificationID"]
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        record = f"aoi:{{{client_id[:11]}}}:idem:{registration_id}:{KEY}"
        assert await client.get(record) == note["notificationID"]
        assert 100_000 < await client.pttl(record) <= 120_000
    finally:
        await client.aclose()
