"""The sessions and channels of this node: addressed by the node bus, swept for keep-alive,
caught up when a doorbell may have been lost."""

from __future__ import annotations

import asyncio
import time

from gateway.runtime import metrics
from gateway.store import Store
from gateway.ws.channel import Channel, Outlet

_SWEEP_SLICE = 500


class LocalChannels:
    """The sessions and channels of this node, addressed by the node bus."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.outlets: dict[str, Outlet] = {}
        self.channels: dict[str, Channel] = {}
        self.no_outlets = asyncio.Event()
        self.no_outlets.set()

    def add_outlet(self, outlet: Outlet) -> None:
        self.outlets[outlet.conn_id] = outlet
        self.no_outlets.clear()

    def remove_outlet(self, outlet: Outlet) -> None:
        self.outlets.pop(outlet.conn_id, None)
        if not self.outlets:
            self.no_outlets.set()

    def put(self, channel: Channel) -> None:
        self.channels[channel.tag] = channel
        metrics.CHANNELS_ACTIVE.set(len(self.channels))

    def discard(self, channel: Channel) -> None:
        if self.channels.get(channel.tag) is channel:
            del self.channels[channel.tag]
            metrics.CHANNELS_ACTIVE.set(len(self.channels))

    def ring(self, tag: str) -> None:
        """The client with this tag has new notifications (if its channel is here)."""
        channel = self.channels.get(tag)
        if channel is not None:
            channel.ring()

    def on_bus_message(self, message: str) -> None:
        """Act on one node-bus message (see docs/redis.md for the format)."""
        verb, _, rest = message.partition(" ")
        if verb == "ring":
            self.ring(rest)
        elif verb == "close":
            conn_id, _, code = rest.partition(" ")
            outlet = self.outlets.get(conn_id)
            if outlet is not None:
                reason = "superseded" if code == "4001" else "deregistered"
                outlet.close_soon(int(code), reason)
        elif verb == "drop":
            outlet = self.outlets.get(rest)
            if outlet is not None:
                outlet.drop_channel()

    async def keep_alive(self, interval: float) -> None:
        """Ping every connection; close those silent for more than 1.5 intervals.

        Yields to the event loop every ``_SWEEP_SLICE`` connections, so a large
        sweep does not hold up other work.
        """
        silent_since = time.monotonic() - 1.5 * interval
        for count, outlet in enumerate(list(self.outlets.values()), 1):
            if outlet.heard < silent_since:
                outlet.close_soon(1001, "ping timeout")
            else:
                await outlet.ping()
            if count % _SWEEP_SLICE == 0:
                await asyncio.sleep(0)

    def ring_all(self) -> None:
        """Wake every channel (after the bus reconnected: doorbells may be lost)."""
        for channel in self.channels.values():
            channel.ring()

    async def catch_up(self) -> None:
        """Wake idle channels whose queue holds more than they have read."""
        idle = [channel for channel in self.channels.values() if channel.idle]
        for start in range(0, len(idle), 500):
            chunk = idle[start : start + 500]
            waiting = await self.store.pending_after([(c.tag, c.cursor) for c in chunk])
            for channel, count in zip(chunk, waiting, strict=True):
                if count:
                    channel.ring()
