"""``GET /ws``: the websocket upgrade, its refusals, and the read loop of one connection."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

from aiohttp import web

from gateway.protocol.bearer import SCHEME, bearer_credential
from gateway.protocol.errors import reason
from gateway.runtime import metrics
from gateway.ws import tokens
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
    identity = _identity(request, node)
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
    session = Session(ws, transport, node, forwarded, identity)
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


def _identity(request: web.Request, node: DeviceHost) -> tokens.Identity | None:
    """The device a token proves, None when device authentication is off; an HTTP 401
    (no websocket) when the token is missing or does not verify."""
    keys = node.device_keys
    if keys is None:
        return None
    settings = node.settings
    try:
        token = _token(request)
        return tokens.verify(token, keys, settings.device_jwt_audience, settings.device_jwt_issuer)
    except tokens.TokenRefused as refused:
        metrics.auth_failure("device", refused.reason)
        metrics.observe_http("/ws", 401)
        body = {"code": 401, "desc": reason(401), "detail": refused.detail}
        raise web.HTTPUnauthorized(
            text=json.dumps(body),
            content_type="application/json",
            headers={"WWW-Authenticate": SCHEME},
        ) from None


def _token(request: web.Request) -> str:
    """The token of the ``Authorization`` header or the ``access_token`` parameter."""
    given = [
        *request.headers.getall("Authorization", ()),
        *request.query.getall("access_token", ()),
    ]
    if not given:
        raise tokens.TokenRefused("missing", "token: none (Authorization: Bearer, or access_token)")
    if len(given) > 1:
        raise tokens.TokenRefused("invalid", "token: give one, as a header or as access_token")
    if "access_token" in request.query:
        token: str | None = given[0]
    else:
        token = bearer_credential(given[0])
    if not token:
        raise tokens.TokenRefused(
            "invalid", "token: expected exactly 'Authorization: Bearer <token>' or access_token"
        )
    return token


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


ALLOWED = {"/ws": "GET"}


def add_routes(app: web.Application) -> None:
    """Route ``GET /ws`` on ``app``."""
    app.router.add_get("/ws", websocket)
