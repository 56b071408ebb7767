"""One gateway node: its settings, store, local channels and node bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from gateway.api.keys import ApiKeys
from gateway.api.reading import BodyBudget, BodyLimits
from gateway.node.bus import NodeBus
from gateway.node.credentials import Credentials
from gateway.node.figures import FIGURES_PERIOD, Deltas, log_summaries, node_figures
from gateway.protocol.errors import Unavailable
from gateway.runtime import metrics, watched
from gateway.runtime.settings import Settings
from gateway.store import Store
from gateway.ws.limits import AddressLimits, TokenBucket
from gateway.ws.registry import LocalChannels
from gateway.ws.tokens import DeviceKeys

log = logging.getLogger(__name__)


def _limits(settings: Settings) -> tuple[AddressLimits, BodyLimits]:
    """The per-address limits and the request-body limits the settings ask for."""
    addresses = AddressLimits(
        settings.address_connect_rate, settings.address_register_rate, settings.trusted_proxies
    )
    bodies = BodyLimits(
        settings.max_body_bytes, settings.body_timeout, BodyBudget(settings.max_body_memory)
    )
    return addresses, bodies


@dataclass
class Node:
    """Everything a request handler may use; built once per process."""

    settings: Settings
    store: Store
    local: LocalChannels
    bus: NodeBus
    connect_bucket: TokenBucket
    address_limits: AddressLimits
    body_limits: BodyLimits
    credentials: Credentials = field(default_factory=Credentials)
    draining: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _checks: set[asyncio.Task[None]] = field(default_factory=set)
    _data_check: asyncio.Lock = field(default_factory=asyncio.Lock)
    beat_now: asyncio.Event = field(default_factory=asyncio.Event)  # publish figures at once

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    @property
    def redis_address(self) -> str:
        return self.store.address

    @property
    def api_keys(self) -> ApiKeys | None:
        file = self.credentials.api_keys
        return None if file is None else file.value

    @property
    def device_keys(self) -> DeviceKeys | None:
        file = self.credentials.device_keys
        return None if file is None else file.value

    @classmethod
    def create(cls, settings: Settings, credentials: Credentials | None = None) -> Node:
        """A node on the Redis deployment ``settings`` name."""
        store = Store(settings)
        local = LocalChannels(store)
        node: Node | None = None

        def resync() -> None:
            # After a resubscribe or an outage of the link, doorbells may have been lost
            # (re-read every queue), and Redis may have lost its data (check the marker).
            local.ring_all()
            if node is not None:
                node.check_data_soon()

        store.link.on_recovered = resync
        bus = NodeBus(
            settings.node_id,
            store,
            local.on_bus_message,
            resync,
            timeout=settings.redis_timeout,
        )
        bucket = TokenBucket(settings.connect_rate, settings.connect_rate)
        node = cls(
            settings, store, local, bus, bucket, *_limits(settings), credentials or Credentials()
        )
        return node

    async def start(self) -> None:
        """Load the scripts, then start the bus listener, liveness record and catch-up."""
        await self.store.load_scripts()
        with contextlib.suppress(Unavailable):
            await self.store.data_lost()  # learn the marker
        self.tasks = [
            asyncio.create_task(self.bus.run(), name="bus"),
            asyncio.create_task(self._liveness(), name="liveness"),
            asyncio.create_task(self._catch_up(), name="catch-up"),
            asyncio.create_task(self._keep_alive(), name="keep-alive"),
            asyncio.create_task(self._identify_deadline(), name="identify-deadline"),
            asyncio.create_task(self._reap(), name="reaper"),
            asyncio.create_task(
                log_summaries(self.local, self.settings.log_summary_interval), name="summary"
            ),
        ]
        if self.credentials.files:
            watch = watched.watch(self.credentials.files)
            self.tasks.append(asyncio.create_task(watch, name="credentials"))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Unavailable):
            await self.store.node_gone(self.node_id)
        await self.store.close()

    def check_data_soon(self) -> None:
        """Look at the data marker in the background (after a reconnect)."""
        task = asyncio.create_task(self._check_data())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check_data(self) -> None:
        """Redis lost its data: every client known on this node's connections is gone,
        so close those connections with 4002 and the devices register again at once.
        One look at a time: two at once would both see the old marker gone."""
        async with self._data_check:
            await self._look_at_marker()

    async def _look_at_marker(self) -> None:
        with contextlib.suppress(Unavailable):
            if await self.store.data_lost():
                metrics.REDIS_DATA_LOSS.inc()
                closed = self.local.close_identified(4002, "deregistered")
                log.warning(
                    "redis lost its data (marker gone): closed %d connections with 4002",
                    closed,
                    extra={"connections": closed},
                )

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
                await self._check_data()
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

    async def _identify_deadline(self) -> None:
        timeout = self.settings.identify_timeout
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            self.local.close_unidentified(timeout)

    async def _reap(self) -> None:
        # Abandoned registrations (store/expiry.py); every node reaps, none races.
        interval = min(60.0, max(0.5, self.settings.registration_ttl / 4))
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Unavailable):
                await self.store.reap(self.store.node_alive)

    async def _catch_up(self) -> None:
        while True:
            await asyncio.sleep(self.settings.catchup_interval)
            with contextlib.suppress(Unavailable):
                await self.local.catch_up()
