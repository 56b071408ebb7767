"""Node liveness records (each carrying the node's own figures), their index, and the
node bus's publishing side."""

from __future__ import annotations

import msgspec

from gateway.store import keys
from gateway.store.base import StoreBase, now_ms
from gateway.store.records import NodeFigures

# Index entries this long past their record's expiry are removed by any heartbeat; the
# margin keeps a node whose clock runs behind from being dropped by another's.
_INDEX_MARGIN_MS = 60_000
# Bounds one listing (a fleet is far smaller).
MAX_LISTED_NODES = 1000
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(NodeFigures)


class Liveness(StoreBase):
    """Node liveness records, their index, and the node bus's publishing side."""

    async def heartbeat(self, figures: NodeFigures, ttl: float) -> None:
        """Write the node's record (its figures, expiring after ``ttl``) and index it."""
        ttl_ms = int(ttl * 1000)
        node_id = figures.nodeID
        record = _encoder.encode(figures)
        index = keys.nodes_index()
        now = now_ms()
        await self._batch(
            [
                ("SET", keys.node_alive(node_id), record, "PX", ttl_ms),
                ("ZADD", index, now + ttl_ms, node_id),
                ("ZREMRANGEBYSCORE", index, "-inf", now - _INDEX_MARGIN_MS),
            ]
        )

    async def live_nodes(self) -> list[NodeFigures]:
        """The figures of every node whose liveness record is present, by nodeID."""
        since = now_ms() - _INDEX_MARGIN_MS
        listed = await self._call(
            ("ZRANGEBYSCORE", keys.nodes_index(), since, "+inf", "LIMIT", 0, MAX_LISTED_NODES)
        )
        if not listed:
            return []
        # One GET per record, each in its own slot: no multi-key command (Redis Cluster).
        records = await self._batch([("GET", keys.node_alive(node_id)) for node_id in listed])
        found = [_figures(record) for record in records if record is not None]
        return sorted((f for f in found if f is not None), key=lambda f: f.nodeID)

    async def node_alive(self, node_id: str) -> bool:
        return bool(await self._call(("EXISTS", keys.node_alive(node_id))))

    async def node_gone(self, node_id: str) -> None:
        await self._batch(
            [("DEL", keys.node_alive(node_id)), ("ZREM", keys.nodes_index(), node_id)]
        )

    async def publish(self, node_id: str, message: str) -> None:
        await self._call(self.link.publish(keys.bus_channel(node_id), message))


def _figures(record: str) -> NodeFigures | None:
    """A node's record; None for one this version cannot read (a node of another version)."""
    try:
        return _decoder.decode(record)
    except msgspec.DecodeError:
        return None
