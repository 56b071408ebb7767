"""The Redis store: registrations, applications, channel ownership and notifications.

Every change to one client is one Lua script over the client's keys (see
``gateway/scripts``), so it is atomic and needs one round trip. The store knows
nothing of websockets; it raises GatewayError subclasses that the protocol and
API layers turn into answers, and Unavailable whenever Redis does not answer in
time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from gateway import ids, keys, metrics
from gateway.autopipeline import POOL_SIZE, AutoPipeline, Filler
from gateway.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unavailable
from gateway.resp import PackedConnection

log = logging.getLogger(__name__)
UNKNOWN_CLIENT = "clientID: unknown client"
# How long a ttl-0 notification may wait for an active channel before it expires.
ZERO_TTL_GRACE_MS = 2000
_REGISTRATION_ATTEMPTS = 4
_ACK = {True: "delivered", False: "rejected"}


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


class Pending(msgspec.Struct, frozen=True):
    """A notification read for delivery."""

    seq: int
    notification_id: str
    registration_id: str
    application_id: str
    payload: str
    accepted_ms: int


class NotificationStatus(msgspec.Struct, omit_defaults=True):
    """The status record of one notification (contract section 2.3)."""

    notificationID: str
    registrationID: str
    status: str
    acceptedTime: int
    finishedTime: int | None = None


class Application(msgspec.Struct):
    applicationID: str
    registrationID: str


class ChannelInfo(msgspec.Struct, omit_defaults=True):
    active: bool
    node: str | None = None


class ClientInfo(msgspec.Struct):
    """Introspection of one client (contract section 2.5)."""

    clientID: str
    deviceNumber: str
    channel: ChannelInfo
    applications: list[Application]
    pendingNotifications: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A notification to accept."""

    registration_id: str
    payload: str
    ttl_seconds: int
    collapse_key: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A stored notification; ``ring_here`` is the client's tag when its channel is on
    this node, which must then ring it (the store rang any other node over the bus)."""

    notification_id: str
    status: str
    ring_here: str | None = None


def _read_scripts() -> dict[str, str]:
    folder = resources.files("gateway") / "scripts"
    prologue = (folder / "client" / "_lib.lua").read_text()
    sources = {"swap_index": (folder / "swap_index.lua").read_text()}
    for entry in (folder / "client").iterdir():
        if entry.name.endswith(".lua") and not entry.name.startswith("_"):
            sources[entry.name.removesuffix(".lua")] = prologue + entry.read_text()
    return sources


_SOURCES = _read_scripts()
_SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SOURCES.items()}


class Store:
    """All gateway state in Redis."""

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        timeout: float,
        status_retention: float,
        password: str | None = None,
    ) -> None:
        # A plain pool (no condition to wait on per pipeline): the auto-pipeline
        # bounds how many connections are busy.
        pool = redis.ConnectionPool.from_url(
            url,
            password=password,
            max_connections=POOL_SIZE,
            # No per-reply read timeout: every exchange is bounded as a whole by the
            # auto-pipeline's deadline, which is cheaper than a timer per reply.
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
            connection_class=PackedConnection,
        )
        self.redis = redis.Redis(connection_pool=pool)
        self._deadline = timeout * 1.5
        self._pipeline = AutoPipeline(self.redis, self._deadline)
        self._keep_ms = int(status_retention * 1000)
        self._node_id = node_id
        self._loading: asyncio.Future[list[Any]] | None = None

    async def close(self) -> None:
        await self._pipeline.close()
        await self.redis.aclose()

    async def _call(self, fill: Filler) -> Any:
        """The reply of the one command ``fill`` queues."""
        return (await self._batch(fill))[0]

    async def _batch(self, fill: Filler) -> list[Any]:
        """The replies of the commands ``fill`` queues, sent with whatever else is waiting.

        Unavailable if Redis does not answer in time or refuses a command.
        """
        try:
            replies = await self._pipeline.submit(fill)
            if any(isinstance(reply, NoScriptError) for reply in replies):
                await self._load_scripts()  # Redis restarted or was flushed
                replies = await self._pipeline.submit(fill)
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies
        except (RedisError, OSError, TimeoutError) as error:
            metrics.REDIS_ERRORS.inc()
            log.debug("redis exchange failed: %r", error)
            raise Unavailable("Redis is unavailable; retry later") from error

    async def _load_scripts(self) -> None:
        """Load the Lua scripts; concurrent callers share one load."""
        if self._loading is None or self._loading.done():
            self._loading = self._pipeline.submit(
                lambda pipe: [pipe.script_load(source) for source in _SOURCES.values()]
            )
        await asyncio.shield(self._loading)

    async def load_scripts(self) -> None:
        """Load the Lua scripts now (at start), so the first requests find them."""
        try:
            await self._load_scripts()
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("could not load scripts yet: %r", error)

    def _script(self, name: str, tag: str, *args: Any, client: Any) -> Any:
        """Queue EVALSHA of a client script on the pipeline ``client``."""
        return client.evalsha(
            _SHAS[name], 1, keys.client(tag), keys.BUS_PREFIX, now_ms(), self._keep_ms, *args
        )

    async def ping(self) -> bool:
        return bool(await self._call(lambda pipe: pipe.ping()))

    # Registration -----------------------------------------------------------------

    async def register(self, device_number: str) -> str:
        """The clientID of a device, created on first registration (idempotent)."""
        for _ in range(_REGISTRATION_ATTEMPTS):
            client_id = await self._register_once(device_number)
            if client_id is not None:
                return client_id
        raise Unavailable("deviceNumber: registration kept racing; retry")

    async def _register_once(self, device_number: str) -> str | None:
        index = keys.device(device_number)
        found = await self._call(lambda pipe: pipe.get(index))
        existing = None if found is None else str(found)
        if existing is not None and await self._client_exists(existing):
            return str(existing)
        tag = ids.new_tag()
        client_id = ids.new_id(tag)
        client_key = keys.client(tag)
        record: list[str | int] = ["id", client_id, "dev", device_number, "epoch", 0]

        def create_and_claim(pipe: Any) -> None:
            # In this order in one round trip: the index never names a missing record.
            pipe.hset(client_key, items=record)
            if existing is None:
                pipe.set(index, client_id, nx=True)
            else:
                # The index names a client whose removal did not finish: replace it.
                self._swap(pipe, index, existing, client_id)

        _, claimed = await self._batch(create_and_claim)
        if claimed:
            return client_id
        await self._call(lambda pipe: pipe.delete(client_key))
        return None

    @staticmethod
    def _swap(pipe: Any, index: str, expected: str, new: str) -> Any:
        return pipe.evalsha(_SHAS["swap_index"], 1, index, expected, new)

    async def _client_exists(self, client_id: str) -> bool:
        tag = ids.tag_of(client_id)
        if tag is None:
            return False
        stored = await self._call(lambda pipe: pipe.hget(keys.client(tag), "id"))
        return bool(stored == client_id)

    async def deregister(self, client_id: str, node: str, conn: str) -> None:
        """Remove a client with its applications and pending notifications."""
        tag = _tag(client_id)
        result = await self._call(
            lambda pipe: self._script("deregister_client", tag, client_id, node, conn, client=pipe)
        )
        if result is None:
            raise NotFound(UNKNOWN_CLIENT)
        device_number, expired, cancelled = result
        metrics.count("expired", expired)
        metrics.count("cancelled", cancelled)
        index = keys.device(device_number)
        await self._call(lambda pipe: self._swap(pipe, index, client_id, ""))

    # Channel ownership -------------------------------------------------------------

    async def activate(self, client_id: str, node: str, conn: str) -> int:
        """Make (node, conn) the client's channel; returns the new ownership epoch."""
        epoch = await self._call(
            lambda pipe: self._script(
                "activate", _tag(client_id), client_id, node, conn, client=pipe
            )
        )
        if epoch is None:
            raise NotFound(UNKNOWN_CLIENT)
        return int(epoch)

    async def deactivate(self, client_id: str, node: str, conn: str) -> bool:
        """End the client's channel wherever it is; True if one was active."""
        result = await self._call(
            lambda pipe: self._script(
                "deactivate", _tag(client_id), client_id, node, conn, client=pipe
            )
        )
        if result is None:
            raise NotFound(UNKNOWN_CLIENT)
        return bool(result)

    async def release(self, tag: str, node: str, conn: str) -> None:
        """Give up a channel if (node, conn) still owns it."""
        await self._call(lambda pipe: self._script("release", tag, node, conn, client=pipe))

    # Applications -----------------------------------------------------------------

    async def register_application(self, client_id: str, application_id: str, limit: int) -> str:
        tag = _tag(client_id)
        result = await self._call(
            lambda pipe: self._script(
                "register_application",
                tag,
                client_id,
                application_id,
                ids.new_id(tag),
                limit,
                client=pipe,
            )
        )
        if result[0] == 404:
            raise NotFound(UNKNOWN_CLIENT)
        if result[0] == 403:
            raise Forbidden(f"applicationID: the client already has {limit} applications")
        return str(result[1])

    async def deregister_application(self, client_id: str, application_id: str) -> None:
        result = await self._call(
            lambda pipe: self._script(
                "deregister_application", _tag(client_id), client_id, application_id, client=pipe
            )
        )
        if result[0] == 404:
            raise NotFound(
                UNKNOWN_CLIENT
                if result[1] == "clientID"
                else "applicationID: not registered for this client"
            )
        metrics.count("expired", result[1])
        metrics.count("cancelled", result[2])

    # Notifications ----------------------------------------------------------------

    async def send(self, outgoing: Outgoing, max_pending: int) -> Accepted:
        """Store one notification durably and ring the node holding its channel."""
        plan = _plan(outgoing)
        reply = (
            None
            if plan is None
            else await self._call(lambda pipe: self._send(outgoing, plan, max_pending, client=pipe))
        )
        result = _accepted(plan, reply, max_pending)
        if isinstance(result, Exception):
            raise result
        return result

    def _send(self, item: Outgoing, plan: tuple[str, str], max_pending: int, client: Any) -> Any:
        tag, notification_id = plan
        return self._script(
            "send",
            tag,
            item.registration_id,
            notification_id,
            item.payload,
            item.ttl_seconds * 1000,
            item.collapse_key or "",
            max_pending,
            ZERO_TTL_GRACE_MS,
            self._node_id,
            client=client,
        )

    async def send_many(
        self, batch: Sequence[Outgoing], max_pending: int
    ) -> list[Accepted | NotFound | TooManyRequests]:
        """Store notifications in order, one pipelined round trip for all."""
        planned = [_plan(item) for item in batch]

        def fill(pipe: Any) -> None:
            for item, plan in zip(batch, planned, strict=True):
                if plan is not None:
                    self._send(item, plan, max_pending, client=pipe)

        replies = iter(await self._batch(fill) if any(planned) else [])
        return [_accepted(plan, next(replies) if plan else None, max_pending) for plan in planned]

    async def sync(
        self, tag: str, epoch: int, after_seq: int, limit: int, acks: Mapping[str, bool]
    ) -> list[Pending] | None:
        """Write acknowledgements, then read up to ``limit`` notifications after ``after_seq``.

        ``acks`` maps notificationIDs to delivered (True) or rejected; IDs that are
        not pending are ignored. Returns None when the epoch moved on (fenced off).
        """
        outcomes = [arg for nid, ok in acks.items() for arg in (nid, _ACK[ok])]
        raw = await self._call(
            lambda pipe: self._script("sync", tag, epoch, after_seq, limit, *outcomes, client=pipe)
        )
        fenced, expired, sent = raw[:3]
        metrics.count("expired", expired)
        metrics.count("sent", sent)
        _count_acknowledged(acks, raw[3 : 3 + len(acks)])
        if fenced:
            return None
        rows = raw[3 + len(acks) :]
        return [
            Pending(
                int(rows[i]), rows[i + 1], rows[i + 2], rows[i + 3], rows[i + 4], int(rows[i + 5])
            )
            for i in range(0, len(rows), 6)
        ]

    async def pending_after(self, cursors: Sequence[tuple[str, int]]) -> list[int]:
        """For each (tag, seq): how many notifications wait past seq (one round trip)."""
        if not cursors:
            return []
        counts = await self._batch(
            lambda pipe: [pipe.zcount(keys.queue(tag), f"({seq}", "+inf") for tag, seq in cursors]
        )
        return [int(n) for n in counts]

    async def status(self, notification_id: str) -> NotificationStatus:
        tag = ids.tag_of(notification_id)
        raw = (
            None
            if tag is None
            else await self._call(
                lambda pipe: self._script("status", tag, notification_id, client=pipe)
            )
        )
        if raw is None:
            raise NotFound("notificationID: unknown notification")
        metrics.count("expired", raw[0])
        finished = int(raw[4]) if raw[2] not in ("queued", "sent") and raw[4] else None
        return NotificationStatus(notification_id, raw[1], raw[2], int(raw[3]), finished)

    async def cancel(self, notification_id: str) -> None:
        tag = ids.tag_of(notification_id)
        code, expired = (
            (404, 0)
            if tag is None
            else await self._call(
                lambda pipe: self._script("cancel", tag, notification_id, client=pipe)
            )
        )
        metrics.count("expired", expired)
        if code == 404:
            raise NotFound("notificationID: unknown notification")
        if code == 409:
            raise Conflict("notificationID: the notification is already final")
        metrics.count("cancelled")

    async def client_info(self, client_id: str) -> ClientInfo:
        tag = ids.tag_of(client_id)
        raw = (
            None
            if tag is None
            else await self._call(
                lambda pipe: self._script("client_info", tag, client_id, client=pipe)
            )
        )
        if raw is None:
            raise NotFound(UNKNOWN_CLIENT)
        expired, device_number, node, pending = raw[:4]
        metrics.count("expired", expired)
        apps = raw[4:]
        active = bool(node) and await self.node_alive(node)
        return ClientInfo(
            client_id,
            device_number,
            ChannelInfo(active, node if active else None),
            [Application(apps[i], apps[i + 1]) for i in range(0, len(apps), 2)],
            int(pending),
        )

    # Node liveness ----------------------------------------------------------------

    async def heartbeat(self, node_id: str, ttl: float) -> None:
        await self._call(lambda pipe: pipe.set(keys.node_alive(node_id), 1, px=int(ttl * 1000)))

    async def node_alive(self, node_id: str) -> bool:
        return bool(await self._call(lambda pipe: pipe.exists(keys.node_alive(node_id))))

    async def node_gone(self, node_id: str) -> None:
        await self._call(lambda pipe: pipe.delete(keys.node_alive(node_id)))

    async def publish(self, node_id: str, message: str) -> None:
        await self._call(lambda pipe: pipe.publish(keys.bus_channel(node_id), message))


def _tag(client_id: str) -> str:
    tag = ids.tag_of(client_id)
    if tag is None:
        raise NotFound(UNKNOWN_CLIENT)
    return tag


def _count_acknowledged(acks: Mapping[str, bool], accepted_times: list[Any]) -> None:
    now = now_ms()
    for delivered, accepted in zip(acks.values(), accepted_times, strict=True):
        if accepted is None:
            continue
        metrics.count("delivered" if delivered else "rejected")
        if delivered:
            metrics.DELIVERY_LATENCY.observe(max(0, now - int(accepted)) / 1000)


def _plan(item: Outgoing) -> tuple[str, str] | None:
    tag = ids.tag_of(item.registration_id)
    return None if tag is None else (tag, ids.new_id(tag))


def _accepted(
    plan: tuple[str, str] | None, reply: Any, max_pending: int
) -> Accepted | NotFound | TooManyRequests:
    if plan is None or reply[0] == 404:
        return NotFound("registrationID: unknown registration")
    status, expired, replaced, ring_here = reply
    metrics.count("expired", expired)
    metrics.count("cancelled", replaced)
    if status == 429:
        return TooManyRequests(
            f"registrationID: the client has {max_pending} pending notifications"
        )
    metrics.count("accepted")
    if status == "expired":
        metrics.count("expired")
    return Accepted(plan[1], status, plan[0] if ring_here else None)
