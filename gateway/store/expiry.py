"""Abandoned registrations expire: a client not seen for ``--registration-ttl`` is removed.

A client is *seen* when one of its registrationIDs gets a send or its channel is
activated (and while its channel stays open on a live node). The hot path pays
almost nothing for it: the client hash keeps a coarse ``seen`` period
(``--registration-ttl`` / 16, at most a day), the scripts that see the client
update it and say when it changed, and only then (about once a period per
client) the node files the client in one of ``SEEN_BUCKETS`` sorted sets of
last-seen periods (each its own hash tag, so each fits one Redis Cluster slot).
Every node runs the reaper: it pops due entries atomically (``pop_due.lua``: two
nodes never take the same one), and ``expire_client.lua`` re-checks each client
against its own hash before removing it exactly as a deregistration would; the
deviceNumber index is repaired after. Nothing scans all keys.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.runtime import metrics
from gateway.store import keys
from gateway.store.base import StoreBase, now_ms
from gateway.store.link import Command
from gateway.store.scripting import SHAS

SEEN_BUCKETS = 16
REAP_BATCH = 100
DAY_MS = 86_400_000


def seen_bucket(tag: str) -> str:
    """The bucket a client is filed in (fixed per client, so a re-filing replaces)."""
    return keys.seen_bucket(zlib.crc32(tag.encode()) % SEEN_BUCKETS)


class Expiry(StoreBase):
    """The last-seen clock of clients and the reaper of abandoned ones."""

    @property
    def _period_ms(self) -> int:
        return max(1, min(DAY_MS, self._ttl_ms // 16))

    def period(self) -> int:
        """The current period of the coarse last-seen clock."""
        return now_ms() // self._period_ms

    @staticmethod
    def _file(tag: str, period: int | str) -> Command:
        return ("ZADD", seen_bucket(tag), int(period), tag)

    async def file_seen(self, tags: Sequence[str], period: int | str) -> None:
        """File clients whose seen period just changed (one round trip)."""
        if tags:
            await self._batch([self._file(tag, period) for tag in tags])

    async def reap(self, node_alive: Callable[[str], Awaitable[bool]]) -> int:
        """One pass over every bucket: remove the clients not seen within the TTL.

        Returns how many were removed.
        """
        cutoff = (now_ms() - self._ttl_ms) // self._period_ms
        removed = 0
        for bucket in range(SEEN_BUCKETS):
            for tag in await self._pop_due(keys.seen_bucket(bucket), cutoff):
                removed += await self._expire(str(tag), cutoff, node_alive)
        return removed

    async def _pop_due(self, key: str, cutoff: int) -> list[Any]:
        due: list[Any] = await self._call(("EVALSHA", SHAS["pop_due"], 1, key, cutoff, REAP_BATCH))
        return due

    async def _expire_step(self, tag: str, cutoff: int, owner: str) -> Any:
        return await self._call(self._script("expire_client", tag, cutoff, self.period(), owner))

    async def _expire(
        self, tag: str, cutoff: int, node_alive: Callable[[str], Awaitable[bool]]
    ) -> int:
        reply = await self._expire_step(tag, cutoff, "")
        if reply is not None and reply[0] == "owned":
            owner = "alive" if await node_alive(str(reply[1])) else "dead"
            reply = await self._expire_step(tag, cutoff, owner)
        if reply is None:
            return 0
        if reply[0] == "seen":
            await self.file_seen([tag], reply[1])
            return 0
        _, client_id, device_number, expired, cancelled = self._told(reply)
        metrics.count("expired", expired)
        metrics.count("cancelled", cancelled)
        metrics.REGISTRATIONS_EXPIRED.inc()
        await self._forget_device(str(device_number), str(client_id))
        return 1

    @staticmethod
    def _swap(index: str, expected: str, new: str) -> Command:
        """Compare-and-set the deviceNumber index (``new`` '' deletes it)."""
        return ("EVALSHA", SHAS["swap_index"], 1, index, expected, new)

    async def _forget_device(self, device_number: str, client_id: str) -> None:
        """Remove the deviceNumber index entry if it still names ``client_id``."""
        index = keys.device(device_number)
        await self._call(self._swap(index, client_id, ""))
