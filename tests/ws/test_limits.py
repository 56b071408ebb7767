"""Node-wide limits: connections per node and new connections per second."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.client import Device
from tests.conftest import wait_for


async def test_upgrade_beyond_connection_limit_gets_503_with_retry_after(start_node, http):
    node = start_node(max_connections=2)
    held = [await Device.connect(node.ws_url, session=http) for _ in range(2)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await Device.connect(node.ws_url, session=http)
    assert refused.value.status == 503
    assert int(refused.value.headers["Retry-After"]) >= 1
    await held[0].close()

    async def reconnect() -> Device | None:
        try:
            return await Device.connect(node.ws_url, session=http)
        except aiohttp.WSServerHandshakeError:
            return None

    third = await wait_for(reconnect, timeout=5)
    assert await third.register("limit-test-device")
    for device in [*held[1:], third]:
        await device.close()


async def test_connect_rate_limit(start_node, http):
    node = start_node(connect_rate=3)
    outcomes = []
    devices = []
    for _ in range(10):
        try:
            devices.append(await Device.connect(node.ws_url, session=http))
            outcomes.append(101)
        except aiohttp.WSServerHandshakeError as error:
            outcomes.append(error.status)
            assert "Retry-After" in error.headers
    assert 101 in outcomes and 503 in outcomes
    for device in devices:
        await device.close()
