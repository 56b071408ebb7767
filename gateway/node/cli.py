"""``aoi-gateway``: start one node (with an embedded Redis when no URL is given)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from gateway.node.app import listen, serve
from gateway.node.credentials import Credentials
from gateway.node.embedded import embedded_redis
from gateway.node.node import Node
from gateway.runtime import eventloop, logs
from gateway.runtime.settings import REDIS_MODES, Settings, load_settings

log = logging.getLogger("gateway")


@contextlib.asynccontextmanager
async def redis_for(settings: Settings) -> AsyncIterator[Settings]:
    """The settings, with a private embedded server for the node's lifetime when they
    name no Redis deployment."""
    if any(getattr(settings, name) is not None for name in REDIS_MODES):
        yield settings
        return
    async with embedded_redis() as url:
        log.warning(
            "no Redis option: started an embedded Redis-compatible server at %s; "
            "single-node development setup, nothing survives a restart",
            url,
        )
        yield replace(settings, redis_url=url)


async def run(settings: Settings, credentials: Credentials) -> int:
    """Serve until stopped; the exit status (1: a port cannot be had)."""
    with contextlib.ExitStack() as sockets:
        ports = [settings.port] if settings.ops_port is None else [settings.port, settings.ops_port]
        bound: list[socket.socket] = []
        for port in ports:
            try:
                bound.append(sockets.enter_context(listen(settings.host, port)))
            except OSError as error:
                reason = os.strerror(error.errno) if error.errno else str(error)
                log.error("cannot listen on %s:%d: %s", settings.host, port, reason)
                return 1
        main, ops = bound[0], (bound[1] if len(bound) > 1 else None)
        async with redis_for(settings) as configured:
            node = Node.create(configured, credentials)
            _warn_open(credentials)
            await serve(node, main, ops)
    return 0


def _warn_open(credentials: Credentials) -> None:
    if credentials.api_keys is None:
        log.warning("application-server API is open: no API keys are configured")
    if credentials.device_keys is None:
        log.warning(
            "device upgrade is open: no --device-jwt-key; any device may claim any deviceNumber"
        )


def main(argv: Sequence[str] | None = None) -> None:
    settings = load_settings(argv)
    credentials = Credentials.load(settings)
    logs.configure(settings.log_level, settings.log_format, settings.node_id)
    sys.exit(eventloop.run(run(settings, credentials)))
