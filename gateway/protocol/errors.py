"""Errors a procedure or API call answers with: each knows its status code."""

from __future__ import annotations

from http import HTTPStatus


def reason(code: int) -> str:
    """The HTTP reason phrase of a status code (the contract's ``desc``)."""
    return HTTPStatus(code).phrase


class GatewayError(Exception):
    """A request that cannot be carried out; ``code`` is the contract's status."""

    code = 500

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or reason(self.code))
        self.detail = detail


class BadRequest(GatewayError):
    code = 400


class Unauthorized(GatewayError):
    """No valid credential (answered with ``WWW-Authenticate: Bearer``)."""

    code = 401


class Forbidden(GatewayError):
    code = 403


class WrongDevice(Forbidden):
    """The request names a deviceNumber or clientID of another device than the token's."""


class OutOfScope(Forbidden):
    """The API key does not cover the application (or is not an admin key)."""


class NotFound(GatewayError):
    code = 404


class MethodNotAllowed(GatewayError):
    code = 405


class RequestTimeout(GatewayError):
    code = 408


class Conflict(GatewayError):
    code = 409


class PayloadTooLarge(GatewayError):
    code = 413


class UnsupportedMediaType(GatewayError):
    code = 415


class TooManyRequests(GatewayError):
    code = 429


class Unavailable(GatewayError):
    code = 503


UNKNOWN_CLIENT = "clientID: unknown client"
OTHER_DEVICE = "clientID: registered by another device than the token's"
