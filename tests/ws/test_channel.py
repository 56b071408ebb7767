"""A channel against a real Redis: reading again from the start (after the link
recovered) resends everything pending, even when a round trip was in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

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


def sent_count() -> float:
    return REGISTRY.get_sample_value("aoi_notifications_total", {"outcome": "sent"}) or 0.0


async def doorbell_notification(store: Store, channel: Channel, registration_id: str) -> str:
    """A notification stored on this node and offered to its channel as a doorbell
    carrying it (written at once, its ``sent`` not recorded yet)."""
    async with asyncio.timeout(STEP):
        accepted = await store.send(Outgoing(registration_id, "rung", 60), 100, EVERY_APPLICATION)
    doorbell = accepted.ring_here
    assert doorbell is not None and doorbell.note is not None
    channel.offer(doorbell.note, doorbell.epoch)
    return accepted.notification_id


async def status_of(store: Store, notification_id: str) -> str:
    async with asyncio.timeout(STEP):
        return (await store.status(notification_id, EVERY_APPLICATION)).status


@pytest.mark.parametrize("acknowledged", [True, False], ids=["acknowledged", "not-acknowledged"])
async def test_a_notification_written_from_a_doorbell_is_recorded_sent_once(
    store: Store, acknowledged: bool
) -> None:
    """Acknowledged before its ``sent`` was recorded, the one round trip that carries
    both ends it delivered; left unacknowledged, it is recorded as sent on its own."""
    outlet = Recorder()
    channel, pending = await active_channel(store, outlet)
    channel.start()
    await wait_for(lambda: outlet.sent == pending, timeout=STEP)
    for notification_id in pending:
        channel.acknowledge(notification_id, True)
    await wait_for(lambda: not channel.inflight, timeout=STEP)
    async with asyncio.timeout(STEP):
        registration_id = (await store.status(pending[0], EVERY_APPLICATION)).registrationID
    before = sent_count()
    rung = await doorbell_notification(store, channel, registration_id)
    assert outlet.sent[-1] == rung  # written without reading it back
    if acknowledged:
        assert channel.acknowledge(rung, True)
    final = "delivered" if acknowledged else "sent"

    async def ended() -> bool:
        return await status_of(store, rung) == final

    await wait_for(ended, timeout=STEP)
    await wait_for(lambda: sent_count() == before + 1, timeout=STEP)
