"""Routing of the application-server API under ``/v1``: every answer counted and in the
contract's JSON, unknown paths 404 and wrong methods 405."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.api import handlers
from gateway.api.bodies import error_response
from gateway.protocol.errors import GatewayError, MethodNotAllowed, NotFound
from gateway.runtime import metrics


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
    ("POST", "/v1/notifications", handlers.send),
    ("POST", "/v1/notifications:batch", handlers.send_batch),
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
        app.router.add_route(method, path, _answered(path, handler))
        allowed.setdefault(path, []).append(method)
    for path, methods in allowed.items():  # tried after the routes above
        app.router.add_route("*", path, _answered(path, _wrong_method(", ".join(methods))))
    app.router.add_route("*", "/v1/{tail:.*}", _answered("unmatched", _no_route))
