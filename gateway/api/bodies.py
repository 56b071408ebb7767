"""Bodies of the application-server API: decoding with the contract's errors, JSON answers."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web

from gateway.protocol.errors import BadRequest, GatewayError, PayloadTooLarge, reason
from gateway.protocol.frames import describe
from gateway.store import Outgoing

MAX_PAYLOAD_BYTES = 4096
MAX_BATCH = 500
# A full batch: 500 payloads of 4096 bytes, JSON-escaped (up to 6 bytes a byte), and slack.
MAX_BODY_BYTES = 16 << 20
DEFAULT_TTL = 86400
RETRY_AFTER_SECONDS = "1"

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


T = TypeVar("T")
_FIELD_FIRST = re.compile(r"^[\w.\[\]]+: ")
_send_decoder = msgspec.json.Decoder(SendRequest)
_batch_decoder = msgspec.json.Decoder(BatchRequest)
_encoder = msgspec.json.Encoder()


def json_response(body: msgspec.Struct | list[msgspec.Struct], status: int = 200) -> web.Response:
    """A JSON answer of ``body``."""
    return web.Response(body=_encoder.encode(body), status=status, content_type="application/json")


def error_response(error: GatewayError) -> web.Response:
    """The contract's ``{code, desc, detail}`` body for an error; a 503 says when to retry."""
    response = json_response(ErrorBody(error.code, reason(error.code), error.detail), error.code)
    if error.code == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _decode(decoder: msgspec.json.Decoder[T], raw: Any) -> T:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise BadRequest(describe(error)) from None
    except msgspec.DecodeError as error:
        raise BadRequest(f"body: invalid JSON: {error}") from None


def outgoing(raw: bytes | msgspec.Raw) -> Outgoing:
    """The notification a send body (or one batch entry) asks for; BadRequest or
    PayloadTooLarge naming the field otherwise."""
    body = _decode(_send_decoder, raw)
    if not body.registrationID:
        raise BadRequest("registrationID: expected a non-empty string")
    if len(body.payload.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload: more than {MAX_PAYLOAD_BYTES} bytes as UTF-8")
    ttl = DEFAULT_TTL if body.ttl is msgspec.UNSET else body.ttl
    collapse = None if body.collapseKey is msgspec.UNSET else body.collapseKey
    return Outgoing(body.registrationID, body.payload, ttl, collapse)


def in_entry(index: int, detail: str) -> str:
    """A detail naming its batch entry: ``notifications[2].ttl: ...``."""
    joiner = "." if _FIELD_FIRST.match(detail) else ": "
    return f"notifications[{index}]{joiner}{detail}"


class BatchResults(msgspec.Struct):
    results: list[msgspec.Struct]


def batch_entries(raw: bytes) -> list[msgspec.Raw]:
    """The entries of a batch body, still undecoded; BadRequest when the body is not one."""
    return _decode(_batch_decoder, raw).notifications
