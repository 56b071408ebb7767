"""Redis stopped and started again under a running node."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from gateway.client import AppServer
from tests.calls import ready_device
from tests.conftest import RedisServer, device_number, wait_for


@pytest.fixture
def own_redis():
    server = RedisServer()
    server.start()
    yield server
    server.remove()


@pytest.mark.standalone_only("stops and restarts its own server; Cluster failover: tests/fleet")
async def test_node_answers_503_fast_and_recovers(own_redis, start_node, connect, http):
    node = start_node(redis=own_redis.url, redis_timeout=0.5)
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    api = AppServer(node.url, http)

    own_redis.stop()
    started = time.monotonic()
    response = await device.request(
        {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()}, timeout=5
    )
    assert response["code"] == 503 and response["desc"] == "Service Unavailable"
    assert "clientID" not in response
    assert time.monotonic() - started < 2.0
    status, body = await api.send("A" * 33, "x")
    assert status == 503 and body["desc"] == "Service Unavailable"
    assert (await api.client(client_id))[0] == 503
    await wait_for(lambda: node.http_status("/readyz") == 503, timeout=5)
    assert node.http_status("/healthz") == 200

    own_redis.start()  # empty: the embedded test server keeps nothing
    await wait_for(lambda: node.http_status("/readyz") == 200, timeout=10)
    # Redis lost the registration: the node tells the device to register again.
    assert await device.wait_closed(10) == 4002
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    await device.activate(client_id)
    registration_id = await device.register_application(client_id, "com.example.mail")
    status, body = await api.send(registration_id, "after the outage")
    assert status == 202
    note = await device.next_notification(timeout=5)
    assert note["notificationID"] == body["notificationID"]
    assert node.process.poll() is None


@pytest.mark.standalone_only("hangs its own server with SIGSTOP")
async def test_hung_redis_answers_503_within_two_seconds(own_redis, start_node, connect):
    node = start_node(redis=own_redis.url, redis_timeout=0.5)
    devices = [await connect(node.ws_url) for _ in range(5)]
    client_id = await devices[0].register(device_number())
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # Redis stops answering, sockets stay open
    try:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                device.request(
                    {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()},
                    timeout=5,
                )
                for device in devices
            )
        )
        assert [r["code"] for r in responses] == [503] * 5
        assert time.monotonic() - started < 2.0
        await wait_for(lambda: node.http_status("/readyz") == 503, timeout=5)
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    await wait_for(lambda: node.http_status("/readyz") == 200, timeout=10)
    await devices[0].activate(client_id)


@pytest.mark.standalone_only("needs a primary without replicas")
async def test_without_enough_replicas_answers_503_not_replicated(start_node, connect, http):
    plain = start_node()
    durable = start_node(redis_wait_replicas=1, redis_timeout=0.3)
    device, _, registration_id = await ready_device(connect, plain.ws_url)
    async with http.post(
        durable.url + "/v1/notifications",
        json={"registrationID": registration_id, "payload": "kept"},
    ) as response:
        body = await response.json()
        assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert body["code"] == 503 and "not replicated" in body["detail"]
    note = await device.next_notification(timeout=5)  # stored all the same, and rung
    assert note["payload"] == "kept"
    other = await connect(durable.ws_url)
    response = await other.request(
        {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()}, timeout=5
    )
    assert response["code"] == 503 and "not replicated" in response["detail"]
    assert "clientID" not in response
