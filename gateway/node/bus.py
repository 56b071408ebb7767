"""The node bus: Redis pub/sub addressed to one node, used only as a doorbell.

Each node listens on its own channel (sharded pub/sub on Redis Cluster, so the
channel lives on one shard). Messages tell it to wake a channel, close a
connection or drop a channel; none carries data that would be lost with the
message. The listener proves itself by a periodic ping published to the node's
own channel through the store's link, which follows failovers: while the ping
does not come back (the listener's connection broke, or still listens on a
primary that was replaced) the bus is unhealthy and is subscribed again, and
after every subscription the node re-reads every channel's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from gateway.protocol.errors import Unavailable
from gateway.runtime import metrics
from gateway.store import Store, keys

log = logging.getLogger(__name__)
_BACKOFF_MIN, _BACKOFF_MAX = 0.1, 2.0


class NodeBus:
    """Listener of one node's pub/sub channel, with its own health check."""

    def __init__(
        self,
        node_id: str,
        store: Store,
        on_message: Callable[[str], None],
        on_subscribed: Callable[[], None],
        *,
        timeout: float,
        ping_interval: float = 1.0,
    ) -> None:
        self._node_id = node_id
        self._store = store
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._timeout = timeout
        self._ping_interval = ping_interval
        self._stale_after = max(3 * ping_interval, 2 * timeout)
        self._token = secrets.token_hex(8)
        self._subscribed = False
        self._last_echo = 0.0
        self._reconnect = asyncio.Event()
        self.reconnects = 0

    @property
    def healthy(self) -> bool:
        """Subscribed, and our own ping came back recently."""
        return self._subscribed and time.monotonic() - self._last_echo < self._stale_after

    async def run(self) -> None:
        """Listen forever, reconnecting with backoff; cancel to stop."""
        backoff = _BACKOFF_MIN
        pinger = asyncio.create_task(self._ping_loop())
        try:
            while True:
                try:
                    await self._listen()
                    backoff = _BACKOFF_MIN
                except (RedisError, OSError, TimeoutError) as error:
                    log.warning("node bus lost: %s", type(error).__name__)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                finally:
                    self._subscribed = False
                self.reconnects += 1
                metrics.BUS_RESUBSCRIBES.inc()
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _listen(self) -> None:
        subscription = self._store.link.subscription(keys.bus_channel(self._node_id))
        try:
            async with asyncio.timeout(self._timeout * 2):
                await subscription.open()
            self._subscribed = True
            self._last_echo = time.monotonic()
            self._reconnect.clear()
            self._on_subscribed()
            while not self._reconnect.is_set():
                message = await subscription.next_message(timeout=0.5)
                if message is not None:
                    self._receive(message)
        finally:
            async with asyncio.timeout(self._timeout):
                await subscription.close()

    def _receive(self, data: str) -> None:
        if data == f"ping {self._token}":
            self._last_echo = time.monotonic()
            return
        try:
            self._on_message(data)
        except Exception:  # one bad message must not stop the listener
            log.exception("node bus message failed")

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            if not self._subscribed:
                continue
            self._store.resend_doorbells()
            with contextlib.suppress(Unavailable):
                await self._store.publish(self._node_id, f"ping {self._token}")
            with contextlib.suppress(Unavailable):
                await self._store.ping()  # notices outages, and what recovery must re-read
            if time.monotonic() - self._last_echo > self._stale_after:
                log.warning("node bus stale: own ping did not come back; reconnecting")
                self._reconnect.set()
