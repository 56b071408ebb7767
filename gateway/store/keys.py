"""Every Redis key and pub/sub channel name the gateway uses, in one place.

All keys of one client carry the client's tag as Redis hash tag (``{tag}``), so a
client's multi-key scripts stay atomic on Redis Cluster. See docs/redis.md.
"""

from __future__ import annotations

PREFIX = "aoi:"
BUS_PREFIX = PREFIX + "bus:"


def client(tag: str) -> str:
    """The client hash. The Lua scripts derive the client's other keys from it by
    replacing the final ``client`` with ``apps``, ``regs``, ``queue``, ``deadlines``,
    ``collapse`` and ``n:<notificationID>`` (see scripts/client/_lib.lua)."""
    return f"{PREFIX}{{{tag}}}:client"


def queue(tag: str) -> str:
    """The client's pending notifications, scored by acceptance sequence."""
    return f"{PREFIX}{{{tag}}}:queue"


def device(device_number: str) -> str:
    """deviceNumber to clientID index (a single key, any slot)."""
    return f"{PREFIX}device:{device_number}"


def node_alive(node_id: str) -> str:
    """Liveness record of a node, refreshed with a short TTL."""
    return f"{PREFIX}node:{node_id}"


def nodes_index() -> str:
    """Index of the nodes that sent a heartbeat: a sorted set of nodeIDs scored by the
    time (ms) their liveness record runs out, so listing them needs no SCAN."""
    return f"{PREFIX}nodes"


def bus_channel(node_id: str) -> str:
    """The pub/sub channel a node listens on."""
    return BUS_PREFIX + node_id


def seen_bucket(bucket: int) -> str:
    """One of the sorted sets of clients by last-seen period (its own hash tag)."""
    return f"{PREFIX}seen:{{{bucket}}}"


def marker() -> str:
    """The data marker: a random value every node knows; gone means Redis lost its data."""
    return f"{PREFIX}marker"
