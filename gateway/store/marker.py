"""The data marker: how a node finds out that Redis lost its data.

Every node knows the value of a marker key (a random value, set with SET NX by
whichever node comes first, then adopted by all). A Redis restarted without
persistence, or flushed, no longer has it: the first node to look sets a new
one, and every node that finds a value other than the one it knew reports the
loss once (the node then tells its devices to register again).

The check takes the key, so with Redis Cluster it can run once per shard (a
marker key per slot range) when the node links to several.
"""

from __future__ import annotations

import secrets

from gateway.store import keys
from gateway.store.base import StoreBase


class Marker(StoreBase):
    """The data marker of the node's Redis."""

    async def data_lost(self, key: str | None = None) -> bool:
        """Look at the marker ``key`` (one round trip); True when it is not the value
        this node knew, i.e. Redis lost its data since the last look."""
        key = key or keys.marker()
        known = self._markers.get(key)
        fresh = secrets.token_hex(16)
        _, current = await self._batch([("SET", key, fresh, "NX"), ("GET", key)])
        self._markers[key] = str(current)
        return known is not None and current != known
