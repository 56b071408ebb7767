"""A channel against a real Redis: reading again from the start (after the link
recovered) resends everything pending, even when a round trip was in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from gateway.protocol import ids
from gateway.runtime.settings import Settings
from gateway.store import EVERY_APPLICATION, Outgoing, Store
from gateway.store.base import client_tag
from gateway.ws.channel import Channel
from tests.conftest import RedisServer, device_number, wait_for

STEP = 10.0
NODE = "channel-test"


class Recorder:
    """An outlet that keeps the notificationIDs it was given, in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.dropped = False

    def send(self, frame: bytes) -> None:
        self.sent.append(json.loads(frame)["notificationID"])

    def ping(self) -> None:
        return None

    def close_soon(self, code: int, reason: str) -> None:
        return None

    def drop_channel(self) -> None:
        self.dropped = True


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[Store]:
    store = Store(Settings(redis_url=redis_server.url, node_id=NODE))
    async with asyncio.timeout(STEP):
        await store.load_scripts()
    yield store
    async with asyncio.timeout(STEP):
        await store.close()


async def active_channel(store: Store, outlet: Recorder) -> tuple[Channel, list[str]]:
    """A started channel of a new client with three notifications pending."""
    async with asyncio.timeout(STEP):
        client_id = await store.register(device_number())
        registration_id = await store.register_application(client_id, None, "com.example", 5)
        sent = [
            (await store.send(Outgoing(registration_id, f"n{n}", 60), 100, EVERY_APPLICATION))
            for n in range(3)
        ]
        conn = ids.new_connection_id()
        epoch = await store.activate(client_id, None, NODE, conn)
    channel = Channel(store, outlet, client_id, client_tag(client_id), epoch, 10)
    return channel, [accepted.notification_id for accepted in sent]


async def test_reread_sends_everything_pending_again(store: Store) -> None:
    outlet = Recorder()
    channel, pending = await active_channel(store, outlet)
    channel.start()
    await wait_for(lambda: outlet.sent == pending, timeout=STEP)
    channel.reread()
    await wait_for(lambda: outlet.sent == pending * 2, timeout=STEP)
    assert not outlet.dropped


async def test_reread_during_a_round_trip_is_not_undone_by_its_reply(store: Store) -> None:
    outlet = Recorder()
    channel, pending = await active_channel(store, outlet)
    channel.start()  # the first round trip is now in flight
    channel.reread()
    await wait_for(lambda: len(outlet.sent) >= 6, timeout=STEP)
    assert outlet.sent == pending * 2 and channel.cursor > 0
