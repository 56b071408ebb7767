"""What the store reads and writes, as typed records."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


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


class NodeFigures(msgspec.Struct):
    """What a node publishes about itself with each heartbeat (``GET /v1/admin/nodes``)."""

    nodeID: str
    ready: bool
    draining: bool
    connections: int
    channels: int
    notificationsPerSecond: dict[str, float]
    updatedTime: int


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
