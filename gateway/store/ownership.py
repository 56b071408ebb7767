"""Channel ownership: which node and connection carry a client's channel, fenced by an epoch."""

from __future__ import annotations

from gateway.protocol.errors import UNKNOWN_CLIENT, NotFound
from gateway.store.base import StoreBase, client_tag


class Ownership(StoreBase):
    """Channel ownership: which node and connection carry a client's channel, fenced by an epoch."""

    async def activate(self, client_id: str, node: str, conn: str) -> int:
        """Make (node, conn) the client's channel; returns the new ownership epoch."""
        result = await self._call(
            self._script("activate", client_tag(client_id), client_id, node, conn)
        )
        if result is None:
            raise NotFound(UNKNOWN_CLIENT)
        return int(self._told(result)[0])

    async def deactivate(self, client_id: str, node: str, conn: str) -> bool:
        """End the client's channel wherever it is; True if one was active."""
        result = await self._call(
            self._script("deactivate", client_tag(client_id), client_id, node, conn)
        )
        if result is None:
            raise NotFound(UNKNOWN_CLIENT)
        return bool(self._told(result)[0])

    async def release(self, tag: str, node: str, conn: str) -> None:
        """Give up a channel if (node, conn) still owns it."""
        await self._call(self._script("release", tag, node, conn))
