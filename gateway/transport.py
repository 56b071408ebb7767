"""HTTP transport: the websocket endpoint and the operations endpoints."""

from __future__ import annotations

import math

from aiohttp import web

from gateway import metrics
from gateway.errors import Unavailable
from gateway.node import Node
from gateway.session import Session

NODE = web.AppKey("node", Node)


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: upgrade, then serve AOI-1 until the connection closes."""
    node = request.app[NODE]
    transport = request.transport
    if transport is None:  # the client has already gone
        raise web.HTTPBadRequest()
    refusal = _refusal(node)
    if refusal is not None:
        detail, retry_after = refusal
        metrics.observe_http("/ws", 503)
        raise web.HTTPServiceUnavailable(
            text=detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))}
        )
    settings = node.settings
    # Pings come from the node's keep-alive sweep (no timers per connection), so
    # pongs and pings reach the session, which counts them as signs of life.
    ws = web.WebSocketResponse(
        autoping=False,
        max_msg_size=settings.max_frame_bytes,
        # Declined unless enabled: a deflate context costs ~90 KiB per connection.
        compress=settings.ws_compression,
    )
    await ws.prepare(request)
    metrics.observe_http("/ws", 101)
    session = Session(ws, transport, node)
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


def _refusal(node: Node) -> tuple[str, float] | None:
    if node.draining:
        return "node is draining", 5.0
    if len(node.local.outlets) >= node.settings.max_connections:
        return "node is at its connection limit", 5.0
    if not node.connect_bucket.take():
        return "too many new connections", node.connect_bucket.wait_seconds()
    return None


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process serves."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: Redis answers, the node bus is live, the node is not draining."""
    node = request.app[NODE]
    problems = []
    if node.draining:
        problems.append("draining")
    try:
        await node.store.ping()
    except Unavailable:
        problems.append("redis unreachable")
    if not node.bus.healthy:
        problems.append("node bus not live")
    metrics.READY.set(0 if problems else 1)
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text format."""
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
