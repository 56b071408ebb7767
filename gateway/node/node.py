"""One gateway node: its settings, store, local channels and node bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.node.bus import NodeBus
from gateway.node.figures import FIGURES_PERIOD, Deltas, log_summaries, node_figures
from gateway.protocol.errors import Unavailable
from gateway.runtime.settings import Settings
from gateway.store import Store
from gateway.ws.limits import TokenBucket
from gateway.ws.registry import LocalChannels

log = logging.getLogger(__name__)


def redis_address(url: str) -> str:
    """The Redis URL without credentials, fit for logs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


@dataclass
class Node:
    """Everything a request handler may use; built once per process."""

    settings: Settings
    store: Store
    local: LocalChannels
    bus: NodeBus
    connect_bucket: TokenBucket
    redis_address: str
    draining: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    beat_now: asyncio.Event = field(default_factory=asyncio.Event)  # publish figures at once

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    @classmethod
    def create(cls, settings: Settings, redis_url: str) -> Node:
        store = Store(
            redis_url,
            node_id=settings.node_id,
            timeout=settings.redis_timeout,
            status_retention=settings.status_retention,
            password=settings.redis_password,
        )
        local = LocalChannels(store)
        bus = NodeBus(
            redis_url,
            settings.node_id,
            store,
            local.on_bus_message,
            local.ring_all,
            timeout=settings.redis_timeout,
            password=settings.redis_password,
        )
        bucket = TokenBucket(settings.connect_rate, settings.connect_rate)
        return cls(settings, store, local, bus, bucket, redis_address(redis_url))

    async def start(self) -> None:
        """Load the scripts, then start the bus listener, liveness record and catch-up."""
        await self.store.load_scripts()
        self.tasks = [
            asyncio.create_task(self.bus.run(), name="bus"),
            asyncio.create_task(self._liveness(), name="liveness"),
            asyncio.create_task(self._catch_up(), name="catch-up"),
            asyncio.create_task(self._keep_alive(), name="keep-alive"),
            asyncio.create_task(
                log_summaries(self.local, self.settings.log_summary_interval), name="summary"
            ),
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
        deltas = Deltas()
        period = min(self.settings.liveness_ttl / 3, FIGURES_PERIOD)
        while True:
            try:
                figures = node_figures(
                    self.node_id,
                    ready=not self.draining and self.bus.healthy,
                    draining=self.draining,
                    local=self.local,
                    deltas=deltas,
                )
                await self.store.heartbeat(figures, self.settings.liveness_ttl)
                if not reachable:
                    log.info("redis reachable")
                reachable = True
            except Unavailable:
                if reachable:
                    log.warning("redis unreachable")
                reachable = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period if reachable else 0.5):
                    await self.beat_now.wait()
            self.beat_now.clear()

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
