"""The aiohttp application of a node: routes, middlewares, lifecycle and drain."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.api import routes
from gateway.api.host import SENDER_HOST
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
    routes.add_fallback(app, {**health.ALLOWED, **endpoint.ALLOWED})

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await node.start()
        yield
        await node.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


async def drain(node: Node) -> None:
    """Refuse new work, close websockets with 1001 spread over the drain window."""
    node.draining = True
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


async def _listen(app: web.Application, limits: ListenerLimits, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    assert runner.server is not None
    # A deep accept queue: a reconnect storm (after a drain or a crash elsewhere) must
    # not overflow it, or clients wait for SYN retransmits (1 s, 3 s, 7 s, ...).
    listener = Listener(runner.server, limits)
    host = app[NODE].settings.host
    await GuardedSite(runner, listener, host, port, LISTEN_BACKLOG).start()
    return runner


async def serve(node: Node) -> None:
    """Serve until SIGTERM or SIGINT, then drain and return."""
    settings = node.settings
    runner = await _listen(build_app(node), _limits(node, "main", main_port_cap()), settings.port)
    ops = None
    if settings.ops_port is not None:
        ops_limits = _limits(node, "ops", OPS_CONNECTIONS)
        ops = await _listen(build_ops_app(node), ops_limits, settings.ops_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # SIGHUP re-reads the credential files (and no longer ends the process).
    loop.add_signal_handler(signal.SIGHUP, node.credentials.reload)
    port = _bound_port(runner) or settings.port
    ops_port = _bound_port(ops) if ops is not None else None
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


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return None
