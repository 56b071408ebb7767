"""The aiohttp application of a node: routes, middlewares, lifecycle and drain."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.api import routes
from gateway.api.bodies import MAX_BODY_BYTES
from gateway.api.host import SENDER_HOST
from gateway.console import routes as console
from gateway.node import health
from gateway.node.health import NODE
from gateway.node.node import Node
from gateway.runtime import metrics
from gateway.ws import endpoint
from gateway.ws.host import DEVICE_HOST

log = logging.getLogger(__name__)
LISTEN_BACKLOG = 4096


def build_app(node: Node) -> web.Application:
    """The application serving one node; the node's tasks live as long as the app."""
    # No middleware: aiohttp would wrap the websocket handler too, and those frames
    # would live as long as every connection.
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[NODE] = app[DEVICE_HOST] = app[SENDER_HOST] = node
    endpoint.add_routes(app)
    health.add_routes(app)
    routes.add_routes(app)
    if node.settings.console:
        console.add_routes(app, node.settings)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await node.start()
        yield
        await node.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


async def drain(node: Node) -> None:
    """Refuse new work, close websockets with 1001 spread over the drain window."""
    node.draining = True
    node.beat_now.set()  # the fleet view shows the drain at once
    metrics.DRAINING.set(1)
    metrics.READY.set(0)
    outlets = list(node.local.outlets.values())
    window = node.settings.drain_window
    log.info("draining", extra={"connections": len(outlets), "window_seconds": window})
    started = time.monotonic()
    for index, outlet in enumerate(outlets):
        delay = started + window * index / max(1, len(outlets)) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        outlet.close_soon(1001, "going away")
    await node.local.no_outlets.wait()


def listen(host: str, port: int) -> socket.socket:
    """The node's listening socket, bound before anything else starts, so that a port in
    use is one clear OSError instead of a half-started node."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # A deep accept queue: a reconnect storm (after a drain or a crash elsewhere) must
    # not overflow it, or clients wait for SYN retransmits (1 s, 3 s, 7 s, ...).
    return socket.create_server(address[:2], family=family, backlog=LISTEN_BACKLOG)


async def serve(node: Node, listener: socket.socket) -> None:
    """Serve on ``listener`` until SIGTERM or SIGINT, then drain and return."""
    settings = node.settings
    runner = web.AppRunner(build_app(node), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, listener, backlog=LISTEN_BACKLOG)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = int(listener.getsockname()[1])
    log.info(
        "ready on %s:%d, redis %s",
        settings.host,
        port,
        node.redis_address,
        extra={"port": port, "redis": node.redis_address},
    )
    await stop.wait()
    log.info("signal received: draining")
    try:
        async with asyncio.timeout(settings.drain_grace - 0.5):
            await drain(node)
            await runner.cleanup()
    except TimeoutError:
        log.warning("drain grace period ran out; exiting")
    log.info("stopped")
