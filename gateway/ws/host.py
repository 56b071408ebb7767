"""What the device side needs of the node that serves it (the node implements it)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from gateway.runtime.settings import Settings
from gateway.store import Store
from gateway.ws.limits import AddressLimits, TokenBucket
from gateway.ws.registry import LocalChannels
from gateway.ws.tokens import DeviceKeys


class DeviceHost(Protocol):
    """The node, as sessions and the ``/ws`` endpoint see it."""

    draining: bool

    @property
    def node_id(self) -> str: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...

    @property
    def local(self) -> LocalChannels: ...

    @property
    def connect_bucket(self) -> TokenBucket: ...

    @property
    def address_limits(self) -> AddressLimits: ...

    @property
    def device_keys(self) -> DeviceKeys | None:
        """The keys that verify device tokens now; None: the upgrade is open."""


DEVICE_HOST = web.AppKey("device_host", DeviceHost)
