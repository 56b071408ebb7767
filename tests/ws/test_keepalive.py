"""The node pings every --ping-interval and closes a connection whose peer stops answering."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any

import aiohttp
import pytest

from gateway.client import AppServer, Device
from tests.conftest import device_number, wait_for


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


def _tiny_receive_buffer(addr_info: tuple[Any, ...]) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def _request(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send_json(frame)
    answer: dict[str, Any] = await ws.receive_json(timeout=5)
    return answer


async def test_peer_that_stops_reading_is_dropped_and_stalls_nobody(start_node, http):
    node = start_node(ping_interval=1, inflight_window=2000, max_pending=5000)
    connector = aiohttp.TCPConnector(socket_factory=_tiny_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as stalled_session:
        stalled = await asyncio.wait_for(
            stalled_session.ws_connect(node.ws_url, autoping=False), timeout=5
        )
        registered = await _request(
            stalled, {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()}
        )
        client_id = registered["clientID"]
        await _request(
            stalled, {"messageType": "notificationChannelActivationReq", "clientID": client_id}
        )
        application = await _request(
            stalled,
            {
                "messageType": "clientApplicationRegistrationReq",
                "clientID": client_id,
                "applicationID": "com.example.stalled",
            },
        )
        # From here on the stalled device reads nothing: 8 MB of pushes fill the
        # socket buffers and the node's writes to it wait on flow control.
        batch = [{"registrationID": application["registrationID"], "payload": "x" * 4096}] * 500
        api = AppServer(node.url, http)
        for _ in range(4):
            status, _ = await api.send_batch(batch)
            assert status == 200
        answering = await Device.connect(node.ws_url, session=http)
        silent = await Device.connect(node.ws_url, session=http, autoping=False)
        started = time.monotonic()
        # The sweeps go on: the silent peer is closed in time, the answering one stays.
        await silent.wait_closed(timeout=5)
        assert time.monotonic() - started < 3
        assert not answering.closed.is_set()

        async def connections() -> float:
            async with http.get(node.url + "/metrics", timeout=aiohttp.ClientTimeout(5)) as r:
                text = await r.text()
            return float(re.search(r"^aoi_connections (\S+)$", text, re.M)[1])

        # The stalled peer cannot take its close frame: the node drops the connection.
        async def only_answering_left() -> bool:
            return await connections() == 1.0

        await wait_for(only_answering_left, timeout=15)
        assert not answering.closed.is_set()
        await answering.close()
        await silent.close()
