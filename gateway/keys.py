"""Every Redis key and pub/sub channel name the gateway uses, in one place.

All keys of one client carry the client's tag as Redis hash tag (``{tag}``), so a
client's multi-key scripts stay atomic on Redis Cluster. See docs/redis.md.
"""

from __future__ import annotations

PREFIX = "aoi:"
BUS_PREFIX = PREFIX + "bus:"


def client_keys(tag: str) -> list[str]:
    """The six keys of one client, in the order the Lua scripts expect them."""
    base = f"{PREFIX}{{{tag}}}:"
    return [base + name for name in ("client", "apps", "regs", "queue", "deadlines", "collapse")]


def notification_prefix(tag: str) -> str:
    """Prefix of the notification hashes of one client (followed by the notificationID)."""
    return f"{PREFIX}{{{tag}}}:n:"


def device(device_number: str) -> str:
    """deviceNumber to clientID index (a single key, any slot)."""
    return f"{PREFIX}device:{device_number}"


def node_alive(node_id: str) -> str:
    """Liveness record of a node, refreshed with a short TTL."""
    return f"{PREFIX}node:{node_id}"


def bus_channel(node_id: str) -> str:
    """The pub/sub channel a node listens on."""
    return BUS_PREFIX + node_id
