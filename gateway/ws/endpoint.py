"""``GET /ws``: the websocket upgrade, its refusals, and the hand-over to the session."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from aiohttp import web

from gateway.protocol.bearer import SCHEME, bearer_credential
from gateway.protocol.errors import reason
from gateway.runtime import metrics
from gateway.ws import tokens
from gateway.ws.host import DEVICE_HOST, DeviceHost
from gateway.ws.session import Session


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: answer the upgrade, then hand the connection to its session.

    From the 101 on, the connection is served by the session (``wire.py``) instead
    of aiohttp's request handler: what an idle connection keeps is the session and
    aiohttp's frame reader, nothing of the request.
    """
    node = request.app[DEVICE_HOST]
    transport = request.transport
    protocol = request.protocol
    if transport is None or not isinstance(protocol, Upgradable):  # the client has gone
        raise web.HTTPBadRequest()
    identity = _identity(request, node)
    forwarded = _admit(request, node, transport)
    # aiohttp's own checks of the upgrade request (400 when it is not one) and its
    # answer's headers (permessage-deflate only when enabled: ~90 KiB per connection).
    headers, _, compress, _ = web.WebSocketResponse(
        compress=node.settings.ws_compression
    )._handshake(request)
    session = Session(transport, node, bool(compress), forwarded, identity)
    transport.write(_switching_protocols(headers))
    tail = protocol.hand_over(session)
    metrics.observe_http("/ws", 101)
    session.open()
    if tail:
        session.data_received(tail)  # frames the client sent right behind its upgrade
    return Detached()


@runtime_checkable
class Upgradable(Protocol):
    """The request handler of a connection that can be handed to another protocol."""

    def hand_over(self, protocol: asyncio.Protocol) -> bytes:
        """From now on the connection is ``protocol``'s; the bytes already read past
        the request."""


class Detached(web.StreamResponse):
    """What the upgrade handler answers aiohttp with: nothing more to write, and the
    connection is not aiohttp's to keep or close any more."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None

    @property
    def keep_alive(self) -> bool:
        return False


def _switching_protocols(headers: Mapping[str, str]) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"HTTP/1.1 101 Switching Protocols\r\n{lines}\r\n".encode()


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
