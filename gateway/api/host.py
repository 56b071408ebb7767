"""What the application-server API needs of the node that serves it (the node implements it)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from gateway.api.keys import ApiKeys
from gateway.api.reading import BodyLimits
from gateway.runtime.settings import Settings
from gateway.store import Doorbell, Store


class LocalChannels(Protocol):
    """The channels held by this node."""

    def deliver(self, doorbell: Doorbell) -> None:
        """Offer a stored notification to its channel here (or ring it)."""


class SenderHost(Protocol):
    """The node, as the API handlers see it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...

    @property
    def local(self) -> LocalChannels: ...

    @property
    def body_limits(self) -> BodyLimits: ...

    @property
    def api_keys(self) -> ApiKeys | None:
        """The API keys in force now; None: the API is open."""


SENDER_HOST = web.AppKey("sender_host", SenderHost)
