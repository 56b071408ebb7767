"""What every concern of the store shares: the link to Redis, script calls, error mapping.

Every change to one client is one Lua script over the client's keys (see
``scripts/``), so it is atomic and needs one round trip. The store knows nothing
of websockets; it raises GatewayError subclasses that the protocol and API
layers turn into answers, and Unavailable whenever Redis does not answer in
time. The concerns (registrations, ownership, applications, notifications,
liveness, introspection) are one module each, combined in ``Store``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from redis.exceptions import RedisClusterException, RedisError

from gateway.protocol import ids
from gateway.protocol.errors import (
    OTHER_DEVICE,
    UNKNOWN_CLIENT,
    NotFound,
    Unavailable,
    WrongDevice,
)
from gateway.runtime import metrics
from gateway.runtime.settings import Settings
from gateway.store import keys
from gateway.store.link import Command, NotReplicated, open_link
from gateway.store.scripting import SHAS, SOURCES

log = logging.getLogger("gateway.store")
T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S", bound="StoreBase")
# Doorbells whose publish failed, kept to be sent again (beyond this the oldest go:
# the periodic catch-up finds what they were for).
MAX_UNSENT_DOORBELLS = 10000
FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def client_tag(client_id: str) -> str:
    """The tag of a clientID; NotFound when it cannot be one."""
    tag = ids.tag_of(client_id)
    if tag is None:
        raise NotFound(UNKNOWN_CLIENT)
    return tag


class Unreplicated(Unavailable):
    """Written, but not acknowledged by enough replicas in time (``replies`` are its replies)."""

    def __init__(self, replies: list[Any]) -> None:
        super().__init__(
            "not replicated: fewer Redis replicas than required acknowledged the write in "
            "time; it is stored and may still take effect, retry later"
        )
        self.replies = replies


def bounded(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """A store call of several round trips in a row, bounded as a whole by the link's
    deadline (1.5 x --redis-timeout), like a single one: Unavailable past it."""

    async def call(store: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            async with asyncio.timeout(store.link.deadline):
                return await method(store, *args, **kwargs)
        except TimeoutError as error:
            raise unavailable(error) from error

    functools.update_wrapper(call, method)
    return call


class StoreBase:
    """The Redis link every concern of the store shares."""

    def __init__(self, settings: Settings) -> None:
        self.link = open_link(settings, {SHAS[name]: SOURCES[name] for name in SOURCES})
        self._keep_ms = int(settings.status_retention * 1000)
        self._ttl_ms = int(settings.registration_ttl * 1000)
        self._markers: dict[str, str] = {}  # data marker values seen, by key (marker.py)
        self._node_id = settings.node_id
        self._unsent: dict[tuple[str, str], None] = {}

    @property
    def address(self) -> str:
        """Where Redis is, without credentials (for logs)."""
        return self.link.address

    async def close(self) -> None:
        await self.link.close()

    async def _guarded(self, work: Awaitable[T]) -> T:
        """``work``'s result; Unavailable when Redis fails or does not answer in time."""
        try:
            return await work
        except NotReplicated as short:
            raise Unreplicated(short.replies) from short
        except FAILURES as error:
            raise unavailable(error) from error

    async def _call(self, command: Command, durable: bool = False) -> Any:
        """The reply of one command (``durable``: after WAIT, see ``--redis-wait-replicas``)."""
        return (await self._batch([command], durable))[0]

    async def _batch(self, commands: Sequence[Command], durable: bool = False) -> list[Any]:
        """The replies of ``commands``, sent with whatever else is waiting; Unavailable
        if Redis does not answer in time or refuses one of them."""
        replies = await self._replies(commands, durable)
        for reply in replies:
            if isinstance(reply, Exception):
                raise unavailable(reply) from reply
        return replies

    async def _replies(self, commands: Sequence[Command], durable: bool = False) -> list[Any]:
        """The replies of ``commands``, errors in place."""
        return await self._guarded(self.link.submit(commands, durable))

    async def load_scripts(self) -> None:
        """Find the deployment and load the Lua scripts now (at start)."""
        try:
            await self._guarded(self.link.connect())
            await self._guarded(self.link.load_scripts())
        except Unavailable as error:
            log.warning("could not load scripts yet: %r", error.__cause__)

    def _script(self, name: str, tag: str, *args: Any) -> Command:
        """EVALSHA of a client script."""
        return (
            "EVALSHA",
            SHAS[name],
            1,
            keys.client(tag),
            keys.BUS_PREFIX,
            now_ms(),
            self._keep_ms,
            *args,
        )

    async def _on_client(
        self, name: str, client_id: str, device: str | None, *args: Any, durable: bool = False
    ) -> Any:
        """The reply of client script ``name``, whose arguments are the clientID, the
        connection's authenticated deviceNumber ('' when None) and ``args``; NotFound or
        WrongDevice when the script refused (``refused`` in ``_lib.lua``: 404, 403).
        ``durable``: answered after WAIT (see ``--redis-wait-replicas``)."""
        tag = client_tag(client_id)
        owner = "" if device is None else device
        reply = await self._call(self._script(name, tag, client_id, owner, *args), durable)
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
        return await self._call(self._script(name, tag, identifier, *args))

    def _told(self, reply: list[Any]) -> list[Any]:
        """Publish the bus message a script asked for (the last two values of its reply:
        channel and message, or nil); the reply without them."""
        *rest, channel, message = reply
        if channel:
            self.tell(channel, message)
        return rest

    def tell(self, channel: str, message: str) -> None:
        """Publish a doorbell now, without waiting; kept to be sent again if that fails."""
        future = self.link.submit([self.link.publish(channel, message)])
        future.add_done_callback(lambda done: self._check_told(done, channel, message))

    def _check_told(self, done: asyncio.Future[list[Any]], channel: str, message: str) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed or isinstance(done.result()[0], Exception):
            self._unsent[(channel, message)] = None
            while len(self._unsent) > MAX_UNSENT_DOORBELLS:
                del self._unsent[next(iter(self._unsent))]

    def resend_doorbells(self) -> None:
        """Publish again every doorbell whose publish failed."""
        unsent, self._unsent = self._unsent, {}
        for channel, message in unsent:
            self.tell(channel, message)

    async def ping(self) -> None:
        """Every Redis primary answers; Unavailable otherwise."""
        await self._guarded(self.link.ping())


def unavailable(error: BaseException) -> Unavailable:
    """What a Redis failure answers (counted, logged at debug level)."""
    metrics.REDIS_ERRORS.inc()
    log.debug("redis exchange failed: %r", error)
    return Unavailable("Redis is unavailable; retry later")
