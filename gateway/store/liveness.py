"""Node liveness records and the node bus's publishing side."""

from __future__ import annotations

from gateway.store import keys
from gateway.store.base import StoreBase


class Liveness(StoreBase):
    """Node liveness records and the node bus's publishing side."""

    async def heartbeat(self, node_id: str, ttl: float) -> None:
        await self._call(("SET", keys.node_alive(node_id), 1, "PX", int(ttl * 1000)))

    async def node_alive(self, node_id: str) -> bool:
        return bool(await self._call(("EXISTS", keys.node_alive(node_id))))

    async def node_gone(self, node_id: str) -> None:
        await self._call(("DEL", keys.node_alive(node_id)))

    async def publish(self, node_id: str, message: str) -> None:
        await self._call(self.link.publish(keys.bus_channel(node_id), message))
