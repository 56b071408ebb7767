"""The store's link to Redis: one auto-pipelined client, script loading, error mapping.

Every change to one client is one Lua script over the client's keys (see
``scripts/``), so it is atomic and needs one round trip. The store knows nothing
of websockets; it raises GatewayError subclasses that the protocol and API
layers turn into answers, and Unavailable whenever Redis does not answer in
time. The concerns (registrations, ownership, applications, notifications,
liveness, introspection) are one module each, combined in ``Store``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from gateway.protocol import ids
from gateway.protocol.errors import (
    OTHER_DEVICE,
    UNKNOWN_CLIENT,
    NotFound,
    Unavailable,
    WrongDevice,
)
from gateway.runtime import metrics
from gateway.store import keys
from gateway.store.autopipeline import POOL_SIZE, AutoPipeline, Filler
from gateway.store.packing import PackedConnection
from gateway.store.scripting import SHAS, SOURCES

log = logging.getLogger("gateway.store")


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def client_tag(client_id: str) -> str:
    """The tag of a clientID; NotFound when it cannot be one."""
    tag = ids.tag_of(client_id)
    if tag is None:
        raise NotFound(UNKNOWN_CLIENT)
    return tag


class StoreBase:
    """The Redis link every concern of the store shares."""

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        timeout: float,
        status_retention: float,
        password: str | None = None,
        registration_ttl: float = 270 * 86400,
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
        self._ttl_ms = int(registration_ttl * 1000)
        self._markers: dict[str, str] = {}  # data marker values seen, by key (marker.py)
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
                lambda pipe: [pipe.script_load(source) for source in SOURCES.values()]
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
            SHAS[name], 1, keys.client(tag), keys.BUS_PREFIX, now_ms(), self._keep_ms, *args
        )

    async def _on_client(self, name: str, client_id: str, device: str | None, *args: Any) -> Any:
        """The reply of client script ``name``, whose arguments are the clientID, the
        connection's authenticated deviceNumber ('' when None) and ``args``; NotFound or
        WrongDevice when the script refused (``refused`` in ``_lib.lua``: 404, 403)."""
        tag = client_tag(client_id)
        owner = "" if device is None else device
        reply = await self._call(
            lambda pipe: self._script(name, tag, client_id, owner, *args, client=pipe)
        )
        if reply[0] == 404:
            raise NotFound(UNKNOWN_CLIENT)
        if reply[0] == 403:
            raise WrongDevice(OTHER_DEVICE)
        return reply

    async def _about(self, name: str, identifier: str, *args: Any) -> Any:
        """The reply of script ``name`` about a gateway ID (its first argument, ``args``
        follow), or None when the ID cannot be one (it names no client tag)."""
        tag = ids.tag_of(identifier)
        if tag is None:
            return None
        return await self._call(
            lambda pipe: self._script(name, tag, identifier, *args, client=pipe)
        )

    async def ping(self) -> bool:
        return bool(await self._call(lambda pipe: pipe.ping()))
