"""The sessions and channels of this node: addressed by the node bus, swept for keep-alive,
caught up when a doorbell may have been lost."""

from __future__ import annotations

import asyncio
import time

from gateway.runtime import metrics
from gateway.store import Doorbell, Store
from gateway.ws.channel import Channel, Outlet

_SWEEP_SLICE = 500


class LocalChannels:
    """The sessions and channels of this node, addressed by the node bus."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.outlets: dict[str, Outlet] = {}
        # Connections that have neither registered nor activated yet, by opening time.
        self.unidentified: dict[Outlet, float] = {}
        self.channels: dict[str, Channel] = {}
        self.no_outlets = asyncio.Event()
        self.no_outlets.set()

    def add_outlet(self, outlet: Outlet) -> None:
        self.outlets[outlet.conn_id] = outlet
        self.unidentified[outlet] = time.monotonic()
        self.no_outlets.clear()

    def remove_outlet(self, outlet: Outlet) -> None:
        self.outlets.pop(outlet.conn_id, None)
        self.unidentified.pop(outlet, None)
        if not self.outlets:
            self.no_outlets.set()

    def identified(self, outlet: Outlet) -> None:
        """The connection registered or activated: no identify deadline any more."""
        self.unidentified.pop(outlet, None)

    def close_unidentified(self, timeout: float) -> None:
        """Close (1008) the connections that did not identify within ``timeout`` seconds.

        One sweep over the not yet identified connections only, instead of a timer per
        connection.
        """
        late = time.monotonic() - timeout
        for outlet, opened in list(self.unidentified.items()):
            if opened < late:
                del self.unidentified[outlet]
                metrics.CLOSED.labels("identify_timeout").inc()
                outlet.close_soon(1008, "no registration or activation in time")

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

    def deliver(self, doorbell: Doorbell) -> None:
        """A notification was stored for the client of ``doorbell`` (if its channel is
        here): offer it, or ring when the doorbell does not carry it."""
        channel = self.channels.get(doorbell.tag)
        if channel is None:
            return
        if doorbell.note is None:
            channel.ring()
        else:
            channel.offer(doorbell.note, doorbell.epoch)

    def on_bus_message(self, message: str) -> None:
        """Act on one node-bus message (see docs/redis.md for the format)."""
        verb, _, rest = message.partition(" ")
        if verb == "note":
            self.deliver(Doorbell.of_note(rest))
        elif verb == "ring":
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
                outlet.ping()
            if count % _SWEEP_SLICE == 0:
                await asyncio.sleep(0)

    def close_identified(self, code: int, reason: str) -> int:
        """Close every connection that registered or activated (whether or not its
        channel is still up); returns how many."""
        outlets = [o for o in self.outlets.values() if o not in self.unidentified]
        for outlet in outlets:
            outlet.close_soon(code, reason)
        return len(outlets)

    def ring_all(self) -> None:
        """Make every channel read its queue again from the start (after the bus
        resubscribed or the link recovered: doorbells may be lost, and after a failover
        the new primary may lack what a channel had already read)."""
        for channel in self.channels.values():
            channel.reread()

    async def catch_up(self) -> None:
        """Wake idle channels whose queue holds more than they have read."""
        idle = [channel for channel in self.channels.values() if channel.idle]
        for start in range(0, len(idle), 500):
            chunk = idle[start : start + 500]
            waiting = await self.store.pending_after([(c.tag, c.cursor) for c in chunk])
            for channel, count in zip(chunk, waiting, strict=True):
                if count:
                    channel.ring()
