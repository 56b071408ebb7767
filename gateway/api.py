"""The application-server HTTP API (contract section 2): send, batch, status, cancel, introspect."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import metrics
from gateway.errors import (
    BadRequest,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    reason,
)
from gateway.frames import describe
from gateway.store import Accepted, Outgoing
from gateway.transport import NODE

MAX_PAYLOAD_BYTES = 4096
MAX_BATCH = 500
# A full batch: 500 payloads of 4096 bytes, JSON-escaped (up to 6 bytes a byte), and slack.
MAX_BODY_BYTES = 16 << 20
DEFAULT_TTL = 86400

Ttl = Annotated[int, msgspec.Meta(ge=0, le=2419200)]
CollapseKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SendRequest(msgspec.Struct):
    """Body of ``POST /v1/notifications`` (unknown fields are ignored)."""

    registrationID: str
    payload: str
    ttl: Ttl | msgspec.UnsetType = msgspec.UNSET
    collapseKey: CollapseKey | msgspec.UnsetType = msgspec.UNSET


class BatchRequest(msgspec.Struct):
    notifications: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_BATCH)]


class Queued(msgspec.Struct):
    notificationID: str
    status: str = "queued"


class ErrorBody(msgspec.Struct, omit_defaults=True):
    code: int
    desc: str
    detail: str | None = None


_FIELD_FIRST = re.compile(r"^[\w.\[\]]+: ")
_send_decoder = msgspec.json.Decoder(SendRequest)
_batch_decoder = msgspec.json.Decoder(BatchRequest)
_encoder = msgspec.json.Encoder()


def _json(body: msgspec.Struct | list[msgspec.Struct], status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(body), status=status, content_type="application/json")


def error_response(error: GatewayError) -> web.Response:
    """The contract's ``{code, desc, detail}`` body for an error."""
    return _json(ErrorBody(error.code, reason(error.code), error.detail), error.code)


def _outgoing(raw: bytes | msgspec.Raw) -> Outgoing:
    try:
        body = _send_decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise BadRequest(describe(error)) from None
    except msgspec.DecodeError as error:
        raise BadRequest(f"body: invalid JSON: {error}") from None
    if not body.registrationID:
        raise BadRequest("registrationID: expected a non-empty string")
    if len(body.payload.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload: more than {MAX_PAYLOAD_BYTES} bytes as UTF-8")
    ttl = DEFAULT_TTL if body.ttl is msgspec.UNSET else body.ttl
    collapse = None if body.collapseKey is msgspec.UNSET else body.collapseKey
    return Outgoing(body.registrationID, body.payload, ttl, collapse)


def _in_entry(index: int, detail: str) -> str:
    """A detail naming its batch entry: ``notifications[2].ttl: ...``."""
    joiner = "." if _FIELD_FIRST.match(detail) else ": "
    return f"notifications[{index}]{joiner}{detail}"


def _queued(accepted: Accepted) -> Queued:
    return Queued(accepted.notification_id)


async def send(request: web.Request) -> web.Response:
    """``POST /v1/notifications``: 202 once the notification is durable in Redis."""
    node = request.app[NODE]
    outgoing = _outgoing(await request.read())
    accepted = await node.store.send(outgoing, node.settings.max_pending)
    if accepted.ring_here is not None:
        node.local.ring(accepted.ring_here)
    response = _json(_queued(accepted), 202)
    response.headers["Location"] = f"/v1/notifications/{accepted.notification_id}"
    return response


async def send_batch(request: web.Request) -> web.Response:
    """``POST /v1/notifications:batch``: up to 500, results in order."""
    node = request.app[NODE]
    try:
        batch = _batch_decoder.decode(await request.read())
    except msgspec.ValidationError as error:
        raise BadRequest(describe(error)) from None
    except msgspec.DecodeError as error:
        raise BadRequest(f"body: invalid JSON: {error}") from None
    decoded: list[Outgoing | GatewayError] = []
    for index, raw in enumerate(batch.notifications):
        try:
            decoded.append(_outgoing(raw))
        except GatewayError as error:
            decoded.append(type(error)(_in_entry(index, error.detail or "")))
    valid = [item for item in decoded if isinstance(item, Outgoing)]
    stored = iter(await node.store.send_many(valid, node.settings.max_pending) if valid else [])
    results: list[msgspec.Struct] = []
    for item in decoded:
        outcome = next(stored) if isinstance(item, Outgoing) else item
        if isinstance(outcome, Accepted):
            if outcome.ring_here is not None:
                node.local.ring(outcome.ring_here)
            results.append(_queued(outcome))
        else:
            results.append(ErrorBody(outcome.code, reason(outcome.code), outcome.detail))
    return _json(BatchResults(results))


class BatchResults(msgspec.Struct):
    results: list[msgspec.Struct]


async def status(request: web.Request) -> web.Response:
    """``GET /v1/notifications/{id}``."""
    record = await request.app[NODE].store.status(request.match_info["notification_id"])
    return _json(record)


async def cancel(request: web.Request) -> web.Response:
    """``DELETE /v1/notifications/{id}``: 204, 409 when final, 404 unknown."""
    await request.app[NODE].store.cancel(request.match_info["notification_id"])
    return web.Response(status=204)


async def client(request: web.Request) -> web.Response:
    """``GET /v1/clients/{clientID}``: introspection."""
    return _json(await request.app[NODE].store.client_info(request.match_info["client_id"]))


def _answered(route: str, handler: Handler) -> Handler:
    """``handler``, counted by route pattern (a bounded label) and code, every error
    answered with the contract's JSON body (never a 500 for bad input).

    A wrapper per route rather than an aiohttp middleware: with any middleware
    aiohttp wraps every handler, the websocket's too, whose frames then live as long
    as the connection.
    """

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except GatewayError as error:
            response = error_response(error)
        except web.HTTPException as error:
            response = error_response(_as_gateway_error(error))
        metrics.observe_http(route, response.status)
        return response

    return answer


async def _no_route(request: web.Request) -> web.Response:
    raise NotFound(f"path: no API route {request.path}")


def _wrong_method(allowed: str) -> Handler:
    async def refuse(request: web.Request) -> web.Response:
        detail = f"method: {request.method} is not allowed here; use {allowed}"
        response = error_response(MethodNotAllowed(detail))
        response.headers["Allow"] = allowed
        return response

    return refuse


def _as_gateway_error(error: web.HTTPException) -> GatewayError:
    converted = GatewayError(error.reason)
    converted.code = error.status
    return converted


_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/v1/notifications", send),
    ("POST", "/v1/notifications:batch", send_batch),
    ("GET", "/v1/notifications/{notification_id}", status),
    ("DELETE", "/v1/notifications/{notification_id}", cancel),
    ("GET", "/v1/clients/{client_id}", client),
]


def add_routes(app: web.Application) -> None:
    """Route the application-server API (under ``/v1``) on ``app``."""
    allowed: dict[str, list[str]] = {}
    for method, path, handler in _ROUTES:
        app.router.add_route(method, path, _answered(path, handler))
        allowed.setdefault(path, []).append(method)
    for path, methods in allowed.items():  # tried after the routes above
        app.router.add_route("*", path, _answered(path, _wrong_method(", ".join(methods))))
    app.router.add_route("*", "/v1/{tail:.*}", _answered("unmatched", _no_route))
