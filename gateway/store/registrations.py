"""Registrations: deviceNumber to clientID, created once, removed with everything of the client."""

from __future__ import annotations

from gateway.protocol import ids
from gateway.protocol.errors import UNKNOWN_CLIENT, NotFound, Unavailable
from gateway.runtime import metrics
from gateway.store import keys
from gateway.store.base import StoreBase, bounded, client_tag
from gateway.store.link import Command
from gateway.store.scripting import SHAS

_REGISTRATION_ATTEMPTS = 4


class Registrations(StoreBase):
    """Registrations: deviceNumber to clientID, created once, removed with all of the client."""

    @bounded
    async def register(self, device_number: str) -> str:
        """The clientID of a device, created on first registration (idempotent)."""
        for _ in range(_REGISTRATION_ATTEMPTS):
            client_id = await self._register_once(device_number)
            if client_id is not None:
                return client_id
        raise Unavailable("deviceNumber: registration kept racing; retry")

    async def _register_once(self, device_number: str) -> str | None:
        index = keys.device(device_number)
        found = await self._call(("GET", index))
        existing = None if found is None else str(found)
        if existing is not None and await self._client_exists(existing):
            return existing
        tag = ids.new_tag()
        client_id = ids.new_id(tag)
        client_key = keys.client(tag)
        # Two steps, the record first: the index (in another slot, on Redis Cluster maybe
        # another shard) must never name a record that does not exist yet, or a
        # concurrent registration would take it for a stale entry and replace it.
        record = ("HSET", client_key, "id", client_id, "dev", device_number, "epoch", 0)
        await self._call(record, durable=True)  # its own WAIT: maybe another shard
        if existing is None:
            claimed = await self._call(("SET", index, client_id, "NX"), durable=True)
        else:
            # The index names a client whose removal did not finish: replace it.
            claimed = await self._call(self._swap(index, existing, client_id), durable=True)
        if claimed:
            return client_id
        await self._call(("DEL", client_key))
        return None

    @staticmethod
    def _swap(index: str, expected: str, new: str) -> Command:
        return ("EVALSHA", SHAS["swap_index"], 1, index, expected, new)

    async def _client_exists(self, client_id: str) -> bool:
        tag = ids.tag_of(client_id)
        if tag is None:
            return False
        stored = await self._call(("HGET", keys.client(tag), "id"))
        return bool(stored == client_id)

    @bounded
    async def deregister(self, client_id: str, node: str, conn: str) -> None:
        """Remove a client with its applications and pending notifications."""
        tag = client_tag(client_id)
        result = await self._call(self._script("deregister_client", tag, client_id, node, conn))
        if result is None:
            raise NotFound(UNKNOWN_CLIENT)
        device_number, expired, cancelled = self._told(result)
        metrics.count("expired", expired)
        metrics.count("cancelled", cancelled)
        await self._call(self._swap(keys.device(device_number), client_id, ""))
