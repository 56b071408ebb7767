"""One gateway node: its settings, store, local channels and node bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from gateway.node.bus import NodeBus
from gateway.protocol.errors import Unavailable
from gateway.runtime.settings import Settings
from gateway.store import Store
from gateway.ws.limits import TokenBucket
from gateway.ws.registry import LocalChannels

log = logging.getLogger(__name__)


@dataclass
class Node:
    """Everything a request handler may use; built once per process."""

    settings: Settings
    store: Store
    local: LocalChannels
    bus: NodeBus
    connect_bucket: TokenBucket
    draining: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    @property
    def redis_address(self) -> str:
        return self.store.address

    @classmethod
    def create(cls, settings: Settings) -> Node:
        """A node on the Redis deployment ``settings`` name."""
        store = Store(settings)
        local = LocalChannels(store)
        # After an outage of the link, doorbells may have been lost: re-read every queue.
        store.link.on_recovered = local.ring_all
        bus = NodeBus(
            settings.node_id,
            store,
            local.on_bus_message,
            local.ring_all,
            timeout=settings.redis_timeout,
        )
        bucket = TokenBucket(settings.connect_rate, settings.connect_rate)
        return cls(settings, store, local, bus, bucket)

    async def start(self) -> None:
        """Load the scripts, then start the bus listener, liveness record and catch-up."""
        await self.store.load_scripts()
        self.tasks = [
            asyncio.create_task(self.bus.run(), name="bus"),
            asyncio.create_task(self._liveness(), name="liveness"),
            asyncio.create_task(self._catch_up(), name="catch-up"),
            asyncio.create_task(self._keep_alive(), name="keep-alive"),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Unavailable):
            await self.store.node_gone(self.node_id)
        await self.store.close()

    async def _liveness(self) -> None:
        reachable = True
        while True:
            try:
                await self.store.heartbeat(self.node_id, self.settings.liveness_ttl)
                if not reachable:
                    log.info("redis reachable")
                reachable = True
            except Unavailable:
                if reachable:
                    log.warning("redis unreachable")
                reachable = False
            await asyncio.sleep(self.settings.liveness_ttl / 3 if reachable else 0.5)

    async def _keep_alive(self) -> None:
        # One sweep for all connections instead of timers per connection.
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            await self.local.keep_alive(self.settings.ping_interval)

    async def _catch_up(self) -> None:
        while True:
            await asyncio.sleep(self.settings.catchup_interval)
            with contextlib.suppress(Unavailable):
                await self.local.catch_up()
