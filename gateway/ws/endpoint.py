"""``GET /ws``: the websocket upgrade, its refusals, and the read loop of one connection."""

from __future__ import annotations

import asyncio
import math

from aiohttp import web

from gateway.runtime import metrics
from gateway.ws.host import DEVICE_HOST, DeviceHost
from gateway.ws.session import Session


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: upgrade, then serve AOI-1 until the connection closes."""
    node = request.app[DEVICE_HOST]
    transport = request.transport
    if transport is None:  # the client has already gone
        raise web.HTTPBadRequest()
    forwarded = _admit(request, node, transport)
    settings = node.settings
    # Pings come from the node's keep-alive sweep (no timers per connection), so
    # pongs and pings reach the session, which counts them as signs of life.
    ws = web.WebSocketResponse(
        autoping=False,
        # aiohttp refuses a message of exactly max_msg_size; the contract accepts it.
        max_msg_size=settings.max_frame_bytes + 1,
        # Declined unless enabled: a deflate context costs ~90 KiB per connection.
        compress=settings.ws_compression,
    )
    await ws.prepare(request)
    metrics.observe_http("/ws", 101)
    session = Session(ws, transport, node, forwarded)
    session.open()
    metrics.CONNECTIONS.inc()
    try:
        # The read loop runs in this frame: each coroutine frame kept while a
        # connection idles is memory per connection.
        while await session.on_message(await ws.receive()):
            pass
    finally:
        try:
            await session.finish()
        finally:
            metrics.CONNECTIONS.dec()
    return ws


def _admit(request: web.Request, node: DeviceHost, transport: asyncio.Transport) -> str | None:
    """Refuse the upgrade (503 with ``Retry-After``) past a limit; else the client
    address when a trusted proxy forwarded it (None: the peer's own)."""
    peer = transport.get_extra_info("peername")
    peer_address = str(peer[0]) if peer else ""
    client, admitted = node.address_limits.upgrade(
        peer_address, request.headers.get("X-Forwarded-For")
    )
    refusal = _refusal(node) if admitted else ("too many new connections from this address", 1.0)
    if refusal is not None:
        detail, retry_after = refusal
        metrics.observe_http("/ws", 503)
        raise web.HTTPServiceUnavailable(
            text=detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))}
        )
    return None if client == peer_address else client


def _refusal(node: DeviceHost) -> tuple[str, float] | None:
    if node.draining:
        return "node is draining", 5.0
    if len(node.local.outlets) >= node.settings.max_connections:
        return "node is at its connection limit", 5.0
    if not node.connect_bucket.take():
        return "too many new connections", node.connect_bucket.wait_seconds()
    return None


ALLOWED = {"/ws": "GET"}


def add_routes(app: web.Application) -> None:
    """Route ``GET /ws`` on ``app``."""
    app.router.add_get("/ws", websocket)
