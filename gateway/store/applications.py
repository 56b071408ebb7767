"""Client applications: (clientID, applicationID) to registrationID, bounded per client."""

from __future__ import annotations

from gateway.protocol import ids
from gateway.protocol.errors import Forbidden, NotFound
from gateway.runtime import metrics
from gateway.store.base import StoreBase, client_tag


class Applications(StoreBase):
    """Client applications: (clientID, applicationID) to registrationID, bounded per client.

    ``device`` is the connection's authenticated deviceNumber (None without device
    authentication): a client another device registered is refused with 403.
    """

    async def register_application(
        self, client_id: str, device: str | None, application_id: str, limit: int
    ) -> str:
        fresh = ids.new_id(client_tag(client_id))
        result = await self._on_client(
            "register_application", client_id, device, application_id, fresh, limit, durable=True
        )
        if result[0] == "full":
            raise Forbidden(f"applicationID: the client already has {limit} applications")
        return str(result[1])

    async def deregister_application(
        self, client_id: str, device: str | None, application_id: str
    ) -> None:
        result = await self._on_client("deregister_application", client_id, device, application_id)
        if result[0] == "unknown_application":
            raise NotFound("applicationID: not registered for this client")
        metrics.count("expired", result[1])
        metrics.count("cancelled", result[2])
