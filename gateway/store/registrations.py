"""Registrations: deviceNumber to clientID, created once, removed with everything of the client."""

from __future__ import annotations

from gateway.protocol import ids
from gateway.protocol.errors import Unavailable
from gateway.runtime import metrics
from gateway.store import keys
from gateway.store.base import bounded
from gateway.store.expiry import Expiry

_REGISTRATION_ATTEMPTS = 4


class Registrations(Expiry):
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
        period = self.period()
        record = ("HSET", client_key, "id", client_id, "dev", device_number, "epoch", 0)
        claim = (
            ("SET", index, client_id, "NX")
            if existing is None
            else self._swap(index, existing, client_id)  # a removal that did not finish
        )
        steps = [(*record, "seen", period), claim, self._file(tag, period)]
        if self.link.colocated(client_key, index):
            # One pipeline on one primary runs in order: the record before the index.
            _, claimed, _ = await self._batch(steps, durable=True)
        else:
            # The index (on another shard) must never name a record that does not exist
            # yet, or a concurrent registration would take it for a stale entry: two
            # steps, the record first (each with its own WAIT).
            await self._call(steps[0], durable=True)
            claimed, _ = await self._batch(steps[1:], durable=True)
        if claimed:
            return client_id
        await self._call(("DEL", client_key))
        return None

    async def _client_exists(self, client_id: str) -> bool:
        tag = ids.tag_of(client_id)
        if tag is None:
            return False
        stored = await self._call(("HGET", keys.client(tag), "id"))
        return bool(stored == client_id)

    async def check_client(self, client_id: str, device: str | None) -> None:
        """NotFound for an unknown clientID, WrongDevice when ``device`` (the connection's
        authenticated deviceNumber, None without) did not register it; changes nothing."""
        await self._on_client("check_client", client_id, device)

    @bounded
    async def deregister(self, client_id: str, device: str | None, node: str, conn: str) -> None:
        """Remove a client with its applications and pending notifications."""
        reply = await self._on_client("deregister_client", client_id, device, node, conn)
        device_number, expired, cancelled = self._told(reply)[1:]
        metrics.count("expired", expired)
        metrics.count("cancelled", cancelled)
        await self._forget_device(device_number, client_id)
