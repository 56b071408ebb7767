"""Abandoned registrations expire after --registration-ttl; seen ones stay."""

from __future__ import annotations

import asyncio

from gateway.client import AppServer
from tests.calls import metric_value, ready_device
from tests.conftest import device_number, wait_for

TTL = 2


async def test_abandoned_registration_is_removed_seen_ones_stay(start_node, connect, http) -> None:
    node = start_node(registration_ttl=TTL)
    api = AppServer(node.url, http)
    abandoned_number = device_number()
    leaving = await connect(node.ws_url)
    abandoned = await leaving.register(abandoned_number)
    abandoned_registration = await leaving.register_application(abandoned, "com.example.gone")
    await leaving.close()
    sender = await connect(node.ws_url)
    sent_to = await sender.register(device_number())
    sent_to_registration = await sender.register_application(sent_to, "com.example.kept")
    await sender.close()
    _, connected, _ = await ready_device(connect, node.ws_url)

    async def keep_sending() -> None:
        while True:
            status, _ = await api.send(sent_to_registration, "still wanted")
            assert status == 202
            await asyncio.sleep(0.3)

    sending = asyncio.ensure_future(keep_sending())

    async def abandoned_gone() -> bool:
        status, _ = await api.client(abandoned)
        return status == 404

    await wait_for(abandoned_gone, 3 * TTL + 2)
    sending.cancel()
    status, _ = await api.send(abandoned_registration, "too late")
    assert status == 404
    assert (await api.client(sent_to))[0] == 200
    assert (await api.client(connected))[0] == 200
    again = await connect(node.ws_url)
    assert await again.register(abandoned_number) != abandoned  # the index went too
    # At least this one (others left in the shared Redis by earlier tests go too).
    assert await metric_value(http, node.url, "aoi_registrations_expired_total") >= 1
