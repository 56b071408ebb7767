"""``GET /ws``: the websocket upgrade, its refusals, and the read loop of one connection."""

from __future__ import annotations

import logging
import math
import time

from aiohttp import web

from gateway.runtime import metrics
from gateway.ws.host import DEVICE_HOST, DeviceHost
from gateway.ws.session import Session

# One line per connection opened and closed at info level: no IDs (the connection's
# own ID only at debug level), never a deviceNumber or payload.
log = logging.getLogger("gateway.connections")
_ABNORMAL = 1006  # no close frame: the connection was lost


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: upgrade, then serve AOI-1 until the connection closes."""
    node = request.app[DEVICE_HOST]
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
    opened = _log_opened(session, len(node.local.outlets))
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
            _log_closed(session, opened, len(node.local.outlets))
    return ws


def _log_opened(session: Session, open_now: int) -> float:
    """Log the connection's opening; returns when it opened (``time.monotonic``)."""
    if log.isEnabledFor(logging.INFO):
        extra: dict[str, object] = {"open": open_now}
        if log.isEnabledFor(logging.DEBUG):
            extra["connection"] = session.conn_id
        log.info("connection opened (%d open)", open_now, extra=extra)
    return time.monotonic()


def _log_closed(session: Session, opened: float, open_now: int) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    seconds = time.monotonic() - opened
    code = session.ws.close_code or _ABNORMAL
    extra: dict[str, object] = {"code": code, "duration_seconds": round(seconds, 3)}
    if log.isEnabledFor(logging.DEBUG):
        extra["connection"] = session.conn_id
    log.info(
        "connection closed: code %d after %.1f s (%d open)", code, seconds, open_now, extra=extra
    )


def _refusal(node: DeviceHost) -> tuple[str, float] | None:
    if node.draining:
        return "node is draining", 5.0
    if len(node.local.outlets) >= node.settings.max_connections:
        return "node is at its connection limit", 5.0
    if not node.connect_bucket.take():
        return "too many new connections", node.connect_bucket.wait_seconds()
    return None


def add_routes(app: web.Application) -> None:
    """Route ``GET /ws`` on ``app``."""
    app.router.add_get("/ws", websocket)
