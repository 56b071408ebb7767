"""The node pings every --ping-interval and closes a connection whose peer stops answering."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.client import Device
from tests.conftest import device_number


async def test_silent_peer_is_closed_and_its_channel_released(start_node, http):
    node = start_node(ping_interval=1)
    silent = await Device.connect(node.ws_url, session=http, autoping=False)
    client_id = await silent.register(device_number())
    await silent.activate(client_id)
    started = time.monotonic()
    await silent.wait_closed(timeout=5)
    assert time.monotonic() - started < 3
    answering = await Device.connect(node.ws_url, session=http)
    await answering.activate(client_id)  # the channel was released: no 4001 to anyone
    await answering.close()
    await silent.close()


async def test_answering_peer_stays_connected(start_node, http):
    node = start_node(ping_interval=1)
    device = await Device.connect(node.ws_url, session=http)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(device.closed.wait(), timeout=3.5)
    assert await device.register(device_number())
    await device.close()
