"""``aoi-gateway``: start one node (with an embedded Redis when no URL is given)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from gateway.node.app import serve
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


async def run(settings: Settings) -> None:
    async with redis_for(settings) as configured:
        node = Node.create(configured)
        log.warning("application-server API is open: no API keys are configured")
        await serve(node)


def main(argv: Sequence[str] | None = None) -> None:
    settings = load_settings(argv)
    logs.configure(settings.log_level, settings.log_format, settings.node_id)
    eventloop.run(run(settings))
    sys.exit(0)
