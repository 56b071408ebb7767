"""Client applications: (clientID, applicationID) to registrationID, bounded per client."""

from __future__ import annotations

from gateway.protocol import ids
from gateway.protocol.errors import UNKNOWN_CLIENT, Forbidden, NotFound
from gateway.runtime import metrics
from gateway.store.base import StoreBase, client_tag


class Applications(StoreBase):
    """Client applications: (clientID, applicationID) to registrationID, bounded per client."""

    async def register_application(self, client_id: str, application_id: str, limit: int) -> str:
        tag = client_tag(client_id)
        result = await self._call(
            self._script(
                "register_application", tag, client_id, application_id, ids.new_id(tag), limit
            ),
            durable=True,
        )
        if result[0] == 404:
            raise NotFound(UNKNOWN_CLIENT)
        if result[0] == 403:
            raise Forbidden(f"applicationID: the client already has {limit} applications")
        return str(result[1])

    async def deregister_application(self, client_id: str, application_id: str) -> None:
        result = await self._call(
            self._script("deregister_application", client_tag(client_id), client_id, application_id)
        )
        if result[0] == 404:
            raise NotFound(
                UNKNOWN_CLIENT
                if result[1] == "clientID"
                else "applicationID: not registered for this client"
            )
        metrics.count("expired", result[1])
        metrics.count("cancelled", result[2])
