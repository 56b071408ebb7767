"""Channel ownership: which node and connection carry a client's channel, fenced by an epoch."""

from __future__ import annotations

from gateway.protocol.errors import UNKNOWN_CLIENT, NotFound
from gateway.store.base import client_tag
from gateway.store.expiry import Expiry


class Ownership(Expiry):
    """Channel ownership: which node and connection carry a client's channel, fenced by an epoch."""

    async def activate(self, client_id: str, node: str, conn: str) -> int:
        """Make (node, conn) the client's channel; returns the new ownership epoch."""
        tag = client_tag(client_id)
        period = self.period()
        result = await self._call(
            lambda pipe: self._script("activate", tag, client_id, node, conn, period, client=pipe)
        )
        if result is None:
            raise NotFound(UNKNOWN_CLIENT)
        epoch, news = result
        if news:
            await self.file_seen([tag], period)
        return int(epoch)

    async def deactivate(self, client_id: str, node: str, conn: str) -> bool:
        """End the client's channel wherever it is; True if one was active."""
        result = await self._call(
            lambda pipe: self._script(
                "deactivate", client_tag(client_id), client_id, node, conn, client=pipe
            )
        )
        if result is None:
            raise NotFound(UNKNOWN_CLIENT)
        return bool(result)

    async def release(self, tag: str, node: str, conn: str) -> None:
        """Give up a channel if (node, conn) still owns it."""
        await self._call(lambda pipe: self._script("release", tag, node, conn, client=pipe))
