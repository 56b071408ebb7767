"""Routing of the application-server API under ``/v1``: every request authenticated, every
answer counted and in the contract's JSON, unknown paths 404 and wrong methods 405."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.api import handlers
from gateway.api.bodies import error_response
from gateway.api.host import SENDER_HOST
from gateway.api.keys import Grant, authenticate, count_scope_refusal
from gateway.api.reading import read_body
from gateway.protocol.errors import GatewayError, MethodNotAllowed, NotFound
from gateway.runtime import metrics

log = logging.getLogger(__name__)
# A route's handler gets the request and what its credential allows (``Grant``); a route
# that needs an admin key calls ``grant.require_admin()`` first. Senders get the body too.
ApiHandler = Callable[[web.Request, Grant], Awaitable[web.StreamResponse]]
BodyHandler = Callable[[web.Request, Grant, bytearray], Awaitable[web.StreamResponse]]


def answered(route: str, handler: Handler) -> Handler:
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
        except Exception:  # a bug: still answered in JSON and counted
            log.exception("request failed: %s %s", request.method, route)
            response = error_response(GatewayError("internal error"))
        metrics.observe_http(route, response.status)
        return response

    return answer


def _authenticated(handler: ApiHandler) -> Handler:
    """``handler`` behind the API-key check (401 without a key the node knows)."""

    async def check_then_handle(request: web.Request) -> web.StreamResponse:
        grant = authenticate(request, request.app[SENDER_HOST].api_keys)
        try:
            return await handler(request, grant)
        except GatewayError as error:
            count_scope_refusal(error)
            raise

    return check_then_handle


def _with_body(handler: BodyHandler) -> ApiHandler:
    """``handler`` given the request body, read within the node's limits."""

    async def read_then_handle(request: web.Request, grant: Grant) -> web.StreamResponse:
        body = await read_body(request, request.app[SENDER_HOST].body_limits)
        try:
            return await handler(request, grant, body.data)
        finally:
            body.release()

    return read_then_handle


def _any_grant(handler: Handler) -> ApiHandler:
    """A handler that answers the same whatever the key allows."""

    async def handle(request: web.Request, grant: Grant) -> web.StreamResponse:
        return await handler(request)

    return handle


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


_ROUTES: list[tuple[str, str, ApiHandler]] = [
    ("POST", "/v1/notifications", _with_body(handlers.send)),
    ("POST", "/v1/notifications:batch", _with_body(handlers.send_batch)),
    ("GET", "/v1/notifications/{notification_id}", handlers.status),
    ("DELETE", "/v1/notifications/{notification_id}", handlers.cancel),
    # Introspection and fleet view: the admin scope (*) once API keys exist.
    ("GET", "/v1/clients/{client_id}", handlers.client),
    ("GET", "/v1/clients", handlers.client_by_device_number),
    ("GET", "/v1/admin/nodes", handlers.nodes),
]


def add_routes(app: web.Application) -> None:
    """Route the application-server API (under ``/v1``) on ``app``."""
    allowed: dict[str, list[str]] = {}
    for method, path, handler in _ROUTES:
        app.router.add_route(method, path, answered(path, _authenticated(handler)))
        allowed.setdefault(path, []).append(method)
    for path, methods in allowed.items():  # tried after the routes above
        refuse = _authenticated(_any_grant(_wrong_method(", ".join(methods))))
        app.router.add_route("*", path, answered(path, refuse))
    unmatched = _authenticated(_any_grant(_no_route))
    app.router.add_route("*", "/v1/{tail:.*}", answered("unmatched", unmatched))


def add_fallback(app: web.Application, allowed: dict[str, str]) -> None:
    """After every other route: wrong methods on ``allowed`` paths 405, any other path
    404, both as JSON and counted (route ``unmatched``)."""
    for path, methods in allowed.items():
        app.router.add_route("*", path, answered("unmatched", _wrong_method(methods)))
    app.router.add_route("*", "/{tail:.*}", answered("unmatched", _no_route_at_all))


async def _no_route_at_all(request: web.Request) -> web.Response:
    raise NotFound(f"path: nothing is served at {request.path}")
