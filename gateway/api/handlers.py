"""The API's handlers: send, batch, status, cancel, introspection (contract section 2).

Each gets what the request's API key allows (``Grant``); the store checks the scope in
the same script that does the work, so a refusal (403) costs no extra round trip and
changes nothing.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from gateway.api.bodies import (
    BatchResults,
    ErrorBody,
    NodeList,
    Queued,
    batch_entries,
    batch_item,
    device_number,
    idempotency_key,
    in_entry,
    json_response,
    outgoing,
)
from gateway.api.host import SENDER_HOST
from gateway.api.keys import Grant, count_scope_refusal
from gateway.protocol.errors import GatewayError, reason
from gateway.store import Accepted, Outgoing
from gateway.store.base import now_ms


async def send(request: web.Request, grant: Grant, body: bytearray) -> web.Response:
    """``POST /v1/notifications``: 202 once the notification is durable in Redis."""
    node = request.app[SENDER_HOST]
    item = outgoing(body, idempotency_key(request))
    accepted = await node.store.send(item, node.settings.max_pending, grant.scope)
    if accepted.ring_here is not None:
        node.local.deliver(accepted.ring_here)
    response = json_response(Queued(accepted.notification_id, "queued"), 202)
    response.headers["Location"] = f"/v1/notifications/{accepted.notification_id}"
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def send_batch(request: web.Request, grant: Grant, body: bytearray) -> web.Response:
    """``POST /v1/notifications:batch``: up to 500, results in order."""
    node = request.app[SENDER_HOST]
    decoded: list[Outgoing | GatewayError] = []
    for index, raw in enumerate(batch_entries(body)):
        try:
            decoded.append(batch_item(raw))
        except GatewayError as error:
            decoded.append(type(error)(in_entry(index, error.detail or "")))
    valid = [item for item in decoded if isinstance(item, Outgoing)]
    stored = iter(
        await node.store.send_many(valid, node.settings.max_pending, grant.scope) if valid else []
    )
    results: list[msgspec.Struct] = []
    for item in decoded:
        outcome = next(stored) if isinstance(item, Outgoing) else item
        if isinstance(outcome, Accepted):
            if outcome.ring_here is not None:
                node.local.deliver(outcome.ring_here)
            results.append(Queued(outcome.notification_id, "queued", outcome.replayed))
        else:
            count_scope_refusal(outcome)
            results.append(ErrorBody(outcome.code, reason(outcome.code), outcome.detail))
    return json_response(BatchResults(results))


async def status(request: web.Request, grant: Grant) -> web.Response:
    """``GET /v1/notifications/{id}``."""
    store = request.app[SENDER_HOST].store
    return json_response(await store.status(request.match_info["notification_id"], grant.scope))


async def cancel(request: web.Request, grant: Grant) -> web.Response:
    """``DELETE /v1/notifications/{id}``: 204, 409 when final, 404 unknown."""
    store = request.app[SENDER_HOST].store
    await store.cancel(request.match_info["notification_id"], grant.scope)
    return web.Response(status=204)


async def client(request: web.Request, grant: Grant) -> web.Response:
    """``GET /v1/clients/{clientID}``: introspection (an admin key)."""
    grant.require_admin()
    store = request.app[SENDER_HOST].store
    return json_response(await store.client_info(request.match_info["client_id"]))


async def client_by_device_number(request: web.Request, grant: Grant) -> web.Response:
    """``GET /v1/clients?deviceNumber=...``: introspection of a device's client (an admin
    key)."""
    grant.require_admin()
    store = request.app[SENDER_HOST].store
    return json_response(await store.client_info_by_device(device_number(request.query)))


async def nodes(request: web.Request, grant: Grant) -> web.Response:
    """``GET /v1/admin/nodes``: every live node of the fleet with its own figures (an admin
    key)."""
    grant.require_admin()
    store = request.app[SENDER_HOST].store
    return json_response(NodeList(now_ms(), await store.live_nodes()))
