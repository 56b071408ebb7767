"""What a reconnecting device needs: the backoff, what it registered, what it received."""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# What a failed connection or reconnection try raises.
TRY_FAILED = (aiohttp.ClientError, OSError, TimeoutError, ConnectionError)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter exponential backoff: before try ``n`` (from 0) a delay drawn uniformly
    from [0, min(cap, base * 2**n)), so that clients closed together (a drain, a crash)
    do not all come back at once. ``max_attempts`` None: try forever."""

    base: float = 0.5
    cap: float = 30.0
    max_attempts: int | None = None

    def delay(self, attempt: int, draw: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(attempt, 32))
        return (draw or random).uniform(0, ceiling)


@dataclass(slots=True)
class Known:
    """A client this device registered or activated: enough to register it again."""

    device_number: str | None = None
    applications: dict[str, str] = field(default_factory=dict)  # applicationID -> registrationID


class Recent:
    """The notificationIDs received lately (bounded), with the code each was answered with
    (None while unanswered): a redelivery after a reconnection is answered again with the
    same code and not handed over twice."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._codes: OrderedDict[str, int | None] = OrderedDict()

    def __contains__(self, notification_id: str) -> bool:
        return notification_id in self._codes

    def code(self, notification_id: str) -> int | None:
        return self._codes.get(notification_id)

    def note(self, notification_id: str, code: int | None) -> None:
        self._codes[notification_id] = code
        self._codes.move_to_end(notification_id)
        while len(self._codes) > self._limit:
            self._codes.popitem(last=False)


# A device token, or a function giving a fresh one at each connection.
Token = str | Callable[[], str]


def with_token(options: dict[str, Any], token: Token | None) -> dict[str, Any]:
    """``options`` for ``ws_connect`` carrying ``token`` as ``Authorization: Bearer``."""
    if token is None:
        return options
    value = token() if callable(token) else token
    return {
        **options,
        "headers": {**options.get("headers", {}), "Authorization": f"Bearer {value}"},
    }


async def open_any(
    session: aiohttp.ClientSession, urls: Sequence[str], options: dict[str, Any]
) -> tuple[aiohttp.ClientWebSocketResponse, int]:
    """A websocket to the first of ``urls`` that accepts one, and its index."""
    failure: BaseException = ValueError("no URL to connect to")
    for index, url in enumerate(urls):
        try:
            return await session.ws_connect(url, **options), index
        except TRY_FAILED as error:
            failure = error
    raise failure


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
