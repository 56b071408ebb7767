"""What the store reads and writes, as typed records."""

from __future__ import annotations

from collections.abc import Iterable
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
    """A notification to accept; ``idempotency_key`` makes a repeat a replay (section 2.6)."""

    registration_id: str
    payload: str
    ttl_seconds: int
    collapse_key: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """The applications a sender may reach, packed once for the scripts: ``""`` for every
    application, else each applicationID between newlines (none holds a newline)."""

    packed: str = ""

    @classmethod
    def of(cls, applications: Iterable[str]) -> Scope:
        return cls("\n" + "\n".join(sorted(set(applications))) + "\n")


EVERY_APPLICATION = Scope()


@dataclass(frozen=True, slots=True)
class Doorbell:
    """What the node holding a client's channel is told of a stored notification: the
    client's tag and, when the channel may write it without reading it back, the
    notification and the ownership epoch it was stored under (node-bus message
    ``note``; ``ring`` carries the tag alone, see docs/redis.md)."""

    tag: str
    epoch: int = 0
    note: Pending | None = None

    def message(self) -> str:
        note = self.note
        if note is None:
            return f"ring {self.tag}"
        return (
            f"note {self.tag} {self.epoch} {note.seq} {note.accepted_ms} {note.notification_id}"
            f" {note.registration_id} {note.application_id} {note.payload}"
        )

    @classmethod
    def of_note(cls, fields: str) -> Doorbell:
        """The doorbell of a ``note`` message (what follows the verb); ValueError when
        it is not one."""
        tag, epoch, seq, at, notification_id, registration, app, payload = fields.split(" ", 7)
        note = Pending(int(seq), notification_id, registration, app, payload, int(at))
        return cls(tag, int(epoch), note)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A stored notification; ``ring_here`` is the doorbell for its channel when that is
    on this node, which must then ring it (the store rang any other node over the
    bus). ``replayed``: an idempotent repeat, answered with the first send's
    notificationID."""

    notification_id: str
    status: str
    ring_here: Doorbell | None = None
    replayed: bool = False
