"""Introspection of one client: channel, node, applications, pending count."""

from __future__ import annotations

import contextlib

from gateway.protocol.errors import UNKNOWN_CLIENT, NotFound
from gateway.runtime import metrics
from gateway.store import keys
from gateway.store.base import bounded
from gateway.store.liveness import Liveness
from gateway.store.records import Application, ChannelInfo, ClientInfo


class Introspection(Liveness):
    """Introspection of one client: channel, node, applications, pending count."""

    @bounded
    async def client_info(self, client_id: str) -> ClientInfo:
        raw = await self._about("client_info", client_id)
        if raw is None:
            raise NotFound(UNKNOWN_CLIENT)
        expired, device_number, node, pending = raw[:4]
        metrics.count("expired", expired)
        apps = raw[4:]
        active = bool(node) and await self.node_alive(node)
        return ClientInfo(
            client_id,
            device_number,
            ChannelInfo(active, node if active else None),
            [Application(apps[i], apps[i + 1]) for i in range(0, len(apps), 2)],
            int(pending),
        )

    async def client_info_by_device(self, device_number: str) -> ClientInfo:
        """Introspection of the client a deviceNumber is registered as; NotFound if none."""
        client_id = await self._call(("GET", keys.device(device_number)))
        # Empty: deregistered (the index is emptied); a client gone meanwhile is unknown too.
        with contextlib.suppress(NotFound):
            if client_id:
                return await self.client_info(str(client_id))
        raise NotFound("deviceNumber: no client is registered with this deviceNumber")
