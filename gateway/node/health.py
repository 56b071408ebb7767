"""The operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from gateway.node.node import Node
from gateway.protocol.errors import Unavailable
from gateway.runtime import metrics

NODE = web.AppKey("node", Node)
# The methods each operations path answers (others get 405).
ALLOWED = {"/healthz": "GET", "/readyz": "GET", "/metrics": "GET"}


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
    """Route the operations endpoints on ``app``."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
