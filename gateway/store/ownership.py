"""Channel ownership: which node and connection carry a client's channel, fenced by an epoch."""

from __future__ import annotations

from gateway.store.base import client_tag
from gateway.store.expiry import Expiry


class Ownership(Expiry):
    """Channel ownership: which node and connection carry a client's channel, fenced by an epoch.

    ``device`` is the connection's authenticated deviceNumber (None without device
    authentication): a client another device registered is refused with 403.
    """

    async def activate(self, client_id: str, device: str | None, node: str, conn: str) -> int:
        """Make (node, conn) the client's channel; returns the new ownership epoch."""
        period = self.period()
        reply = await self._on_client("activate", client_id, device, node, conn, period)
        _, epoch, news = self._told(reply)
        if news:
            await self.file_seen([client_tag(client_id)], period)
        return int(epoch)

    async def deactivate(self, client_id: str, device: str | None, node: str, conn: str) -> bool:
        """End the client's channel wherever it is; True if one was active."""
        return bool(
            self._told(await self._on_client("deactivate", client_id, device, node, conn))[1]
        )

    async def release(self, tag: str, node: str, conn: str) -> None:
        """Give up a channel if (node, conn) still owns it."""
        await self._call(self._script("release", tag, node, conn))
