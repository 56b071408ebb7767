"""``aoi-gateway``: start one node (with an embedded Redis when no URL is given)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence

from gateway.node.app import serve
from gateway.node.credentials import Credentials
from gateway.node.embedded import embedded_redis
from gateway.node.node import Node
from gateway.runtime import eventloop, logs
from gateway.runtime.settings import Settings, load_settings

log = logging.getLogger("gateway")


@contextlib.asynccontextmanager
async def redis_for(settings: Settings) -> AsyncIterator[str]:
    """The configured Redis URL, or a private embedded server for the node's lifetime."""
    if settings.redis_url is not None:
        yield settings.redis_url
        return
    async with embedded_redis() as url:
        log.warning(
            "no --redis-url: started an embedded Redis-compatible server at %s; "
            "single-node development setup, nothing survives a restart",
            url,
        )
        yield url


async def run(settings: Settings, credentials: Credentials) -> None:
    async with redis_for(settings) as url:
        node = Node.create(settings, url, credentials)
        if credentials.api_keys is None:
            log.warning("application-server API is open: no API keys are configured")
        if credentials.device_keys is None:
            log.warning(
                "device upgrade is open: no --device-jwt-key; any device may claim any deviceNumber"
            )
        await serve(node)


def main(argv: Sequence[str] | None = None) -> None:
    settings = load_settings(argv)
    credentials = Credentials.load(settings)
    logs.configure(settings.log_level, settings.log_format, settings.node_id)
    eventloop.run(run(settings, credentials))
    sys.exit(0)
