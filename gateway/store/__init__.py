"""All gateway state in Redis: one module per concern, the key layout, the Lua scripts, the link."""

from gateway.store.applications import Applications
from gateway.store.expiry import Expiry
from gateway.store.introspection import Introspection
from gateway.store.marker import Marker
from gateway.store.notifications import Notifications
from gateway.store.ownership import Ownership
from gateway.store.records import (
    EVERY_APPLICATION,
    Accepted,
    Application,
    ChannelInfo,
    ClientInfo,
    Doorbell,
    NodeFigures,
    NotificationStatus,
    Outgoing,
    Pending,
    Scope,
)
from gateway.store.registrations import Registrations


class Store(Registrations, Ownership, Applications, Notifications, Introspection, Expiry, Marker):
    """All gateway state in Redis."""


__all__ = [
    "EVERY_APPLICATION",
    "Accepted",
    "Application",
    "ChannelInfo",
    "ClientInfo",
    "Doorbell",
    "NodeFigures",
    "NotificationStatus",
    "Outgoing",
    "Pending",
    "Scope",
    "Store",
]
