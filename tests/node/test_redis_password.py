"""``--redis-password`` with a URL that holds none; a wrong one answers 503, never 500.

(On Sentinel and Cluster the failover tests run with a password.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.bench.nodeprocess import NodeProcess
from gateway.bench.topology import Standalone
from gateway.client import AppServer
from tests.calls import ready_device
from tests.conftest import device_number, wait_for

PASSWORD = 'a "quoted" pass word'
WRONG_PASSWORD = ["--redis-password", "wrong", "--redis-timeout", "0.5"]


@pytest.fixture
def protected() -> Iterator[Standalone]:
    server = Standalone(PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.mark.standalone_only("its own password-protected server")
async def test_password_from_its_option(protected, start_node, connect, http):
    node = start_node(redis=protected.node_args(), redis_password=PASSWORD)
    device, _, registration_id = await ready_device(connect, node.ws_url)
    status, body = await AppServer(node.url, http).send(registration_id, "authenticated")
    assert status == 202
    assert (await device.next_notification(timeout=5))["notificationID"] == body["notificationID"]


async def test_wrong_password_is_not_ready_and_answers_503(protected, tmp_path, connect):
    node = NodeProcess(protected.node_args(), tmp_path, "wrong-password", WRONG_PASSWORD)
    node.launch()
    try:
        node.wait_listening()
        await wait_for(lambda: node.http_status("/readyz") == 503, timeout=5)
        device = await connect(node.ws_url)
        response = await device.request(
            {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()},
            timeout=5,
        )
        assert response["code"] == 503
    finally:
        node.stop()
