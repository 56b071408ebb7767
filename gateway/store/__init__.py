"""All gateway state in Redis: one module per concern, the key layout, the Lua scripts, the link."""

from gateway.store.applications import Applications
from gateway.store.introspection import Introspection
from gateway.store.notifications import Notifications
from gateway.store.ownership import Ownership
from gateway.store.records import (
    Accepted,
    Application,
    ChannelInfo,
    ClientInfo,
    NodeFigures,
    NotificationStatus,
    Outgoing,
    Pending,
)
from gateway.store.registrations import Registrations


class Store(Registrations, Ownership, Applications, Notifications, Introspection):
    """All gateway state in Redis."""


__all__ = [
    "Accepted",
    "Application",
    "ChannelInfo",
    "ClientInfo",
    "NodeFigures",
    "NotificationStatus",
    "Outgoing",
    "Pending",
    "Store",
]
