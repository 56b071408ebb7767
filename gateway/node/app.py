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
from gateway.api.host import SENDER_HOST
from gateway.console import routes as console
from gateway.node import health
from gateway.node.health import NODE
from gateway.node.listener import (
    OPS_CONNECTIONS,
    GuardedSite,
    Listener,
    ListenerLimits,
    main_port_cap,
)
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
    app = web.Application(client_max_size=node.settings.max_body_bytes)
    app[NODE] = app[DEVICE_HOST] = app[SENDER_HOST] = node
    endpoint.add_routes(app)
    health.add_routes(app)
    routes.add_routes(app)
    allowed = {**health.ALLOWED, **endpoint.ALLOWED}
    if node.settings.console:
        for method, path, handler in console.console_routes(node.settings):
            app.router.add_get(path, routes.answered(path, handler))  # HEAD too
            allowed[path] = method
    routes.add_fallback(app, allowed)

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


def build_ops_app(node: Node) -> web.Application:
    """The operations port's application: /healthz, /readyz and /metrics only."""
    app = web.Application()
    app[NODE] = node
    health.add_routes(app)
    routes.add_fallback(app, health.ALLOWED)
    return app


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before anything else starts, so that a port in use is
    one clear OSError instead of a half-started node."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # A deep accept queue: a reconnect storm (after a drain or a crash elsewhere) must
    # not overflow it, or clients wait for SYN retransmits (1 s, 3 s, 7 s, ...).
    return socket.create_server(address[:2], family=family, backlog=LISTEN_BACKLOG)


def _limits(node: Node, name: str, cap: int) -> ListenerLimits:
    settings = node.settings
    return ListenerLimits(
        name,
        cap,
        header_timeout=settings.header_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        write_timeout=settings.write_timeout,
        max_header_bytes=settings.max_header_bytes,
        admit=node.address_limits.accept if name == "main" else None,
    )


async def _serve_on(
    app: web.Application, limits: ListenerLimits, sock: socket.socket
) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    assert runner.server is not None
    listener = Listener(runner.server, limits)
    await GuardedSite(runner, listener, sock, LISTEN_BACKLOG).start()
    return runner


async def start_serving(
    node: Node, main: socket.socket, ops_socket: socket.socket | None = None
) -> tuple[web.AppRunner, web.AppRunner | None]:
    """Serve the node's application on ``main`` and the operations port's on
    ``ops_socket``; the runners (to clean up)."""
    runner = await _serve_on(build_app(node), _limits(node, "main", main_port_cap()), main)
    ops = None
    if ops_socket is not None:
        ops_limits = _limits(node, "ops", OPS_CONNECTIONS)
        ops = await _serve_on(build_ops_app(node), ops_limits, ops_socket)
    return runner, ops


async def serve(node: Node, main: socket.socket, ops_socket: socket.socket | None) -> None:
    """Serve on ``main`` (and the operations port's socket) until SIGTERM or SIGINT, then
    drain and return."""
    settings = node.settings
    runner, ops = await start_serving(node, main, ops_socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # SIGHUP re-reads the credential files (and no longer ends the process).
    loop.add_signal_handler(signal.SIGHUP, node.credentials.reload)
    port = int(main.getsockname()[1])
    ops_port = None if ops_socket is None else int(ops_socket.getsockname()[1])
    log.info(
        "ready on %s:%d, redis %s%s",
        settings.host,
        port,
        node.redis_address,
        f", operations port {ops_port}" if ops_port is not None else "",
        extra={"port": port, "redis": node.redis_address, "ops_port": ops_port},
    )
    await stop.wait()
    log.info("signal received: draining")
    try:
        async with asyncio.timeout(settings.drain_grace - 0.5):
            await drain(node)
            await runner.cleanup()
            if ops is not None:
                await ops.cleanup()
    except TimeoutError:
        log.warning("drain grace period ran out; exiting")
    log.info("stopped")
