"""Bodies of the application-server API: decoding with the contract's errors, JSON answers."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web
from multidict import MultiMapping

from gateway.protocol.bearer import SCHEME
from gateway.protocol.errors import BadRequest, GatewayError, PayloadTooLarge, reason
from gateway.protocol.frames import DeviceNumber, describe
from gateway.store import NodeFigures, Outgoing

MAX_PAYLOAD_BYTES = 4096
MAX_BATCH = 500
DEFAULT_TTL = 86400
RETRY_AFTER_SECONDS = "1"

Ttl = Annotated[int, msgspec.Meta(ge=0, le=2419200)]
CollapseKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# Contract 2.6: 1 to 64 characters of [A-Za-z0-9._:-] (``\Z``: ``$`` allows a newline).
IDEMPOTENCY_KEY = "\\A[A-Za-z0-9._:-]{1,64}\\Z"
IdempotencyKey = Annotated[str, msgspec.Meta(pattern=IDEMPOTENCY_KEY)]
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY)


class SendRequest(msgspec.Struct):
    """Body of ``POST /v1/notifications`` (unknown fields are ignored)."""

    registrationID: str
    payload: str
    ttl: Ttl | msgspec.UnsetType = msgspec.UNSET
    collapseKey: CollapseKey | msgspec.UnsetType = msgspec.UNSET


class BatchItem(SendRequest):
    """One entry of ``POST /v1/notifications:batch``: a send with its own idempotency key
    (a single send takes the ``Idempotency-Key`` header instead)."""

    idempotencyKey: IdempotencyKey | msgspec.UnsetType = msgspec.UNSET


class BatchRequest(msgspec.Struct):
    notifications: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_BATCH)]


class Queued(msgspec.Struct, omit_defaults=True):
    """A send's answer: always ``"status": "queued"`` (clarification 7)."""

    notificationID: str
    status: str
    replayed: bool = False  # a batch item answered from an earlier send (section 2.6)


class ErrorBody(msgspec.Struct, omit_defaults=True):
    code: int
    desc: str
    detail: str | None = None


T = TypeVar("T")
_BODY_ERRORS = (408, 413, 415)
_FIELD_FIRST = re.compile(r"^[\w.\[\]]+: ")
_send_decoder = msgspec.json.Decoder(SendRequest)
_item_decoder = msgspec.json.Decoder(BatchItem)
_batch_decoder = msgspec.json.Decoder(BatchRequest)
_encoder = msgspec.json.Encoder()


def json_response(body: msgspec.Struct | list[msgspec.Struct], status: int = 200) -> web.Response:
    """A JSON answer of ``body``."""
    return web.Response(body=_encoder.encode(body), status=status, content_type="application/json")


def error_response(error: GatewayError) -> web.Response:
    """The contract's ``{code, desc, detail}`` body for an error.

    A 401 says which scheme, a 503 when to retry; an error about the body itself (408,
    413, 415) ends the connection, since the rest of that body is not read.
    """
    response = json_response(ErrorBody(error.code, reason(error.code), error.detail), error.code)
    if error.code == 401:
        response.headers["WWW-Authenticate"] = SCHEME
    elif error.code == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    elif error.code in _BODY_ERRORS:
        response.force_close()
    return response


def _decode(decoder: msgspec.json.Decoder[T], raw: Any) -> T:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise BadRequest(describe(error)) from None
    except msgspec.DecodeError as error:
        raise BadRequest(f"body: invalid JSON: {error}") from None
    except RecursionError:
        raise BadRequest("body: invalid JSON: nested too deeply") from None


def outgoing(raw: bytes | bytearray, idempotency_key: str | None) -> Outgoing:
    """The notification a send body asks for, with the key of its ``Idempotency-Key``
    header; BadRequest or PayloadTooLarge naming the field otherwise."""
    return _outgoing(_decode(_send_decoder, raw), idempotency_key)


def batch_item(raw: msgspec.Raw) -> Outgoing:
    """The notification one batch entry asks for (its key is its ``idempotencyKey``)."""
    body = _decode(_item_decoder, raw)
    key = None if body.idempotencyKey is msgspec.UNSET else body.idempotencyKey
    return _outgoing(body, key)


def _outgoing(body: SendRequest, idempotency_key: str | None) -> Outgoing:
    if not body.registrationID:
        raise BadRequest("registrationID: expected a non-empty string")
    if len(body.payload.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload: more than {MAX_PAYLOAD_BYTES} bytes as UTF-8")
    ttl = DEFAULT_TTL if body.ttl is msgspec.UNSET else body.ttl
    collapse = None if body.collapseKey is msgspec.UNSET else body.collapseKey
    return Outgoing(body.registrationID, body.payload, ttl, collapse, idempotency_key)


def idempotency_key(request: web.Request) -> str | None:
    """The ``Idempotency-Key`` header of a send, None without; BadRequest when bad."""
    given = request.headers.getall("Idempotency-Key", ())
    if not given:
        return None
    if len(given) > 1 or _IDEMPOTENCY_KEY.match(given[0]) is None:
        raise BadRequest("Idempotency-Key: expected one value of 1 to 64 [A-Za-z0-9._:-]")
    return given[0]


def in_entry(index: int, detail: str) -> str:
    """A detail naming its batch entry: ``notifications[2].ttl: ...``."""
    joiner = "." if _FIELD_FIRST.match(detail) else ": "
    return f"notifications[{index}]{joiner}{detail}"


class BatchResults(msgspec.Struct):
    results: list[msgspec.Struct]


def batch_entries(raw: bytes | bytearray) -> list[msgspec.Raw]:
    """The entries of a batch body, still undecoded; BadRequest when the body is not one."""
    return _decode(_batch_decoder, raw).notifications


class NodeList(msgspec.Struct):
    """Body of ``GET /v1/admin/nodes``."""

    now: int
    nodes: list[NodeFigures]


def device_number(query: MultiMapping[str]) -> str:
    """The one ``deviceNumber`` query parameter, as AOI-1 accepts it; BadRequest otherwise."""
    values = query.getall("deviceNumber", [])
    unknown = sorted(set(query) - {"deviceNumber"})
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown query parameter; use deviceNumber")
    if len(values) != 1:
        raise BadRequest("deviceNumber: expected exactly one query parameter deviceNumber")
    try:
        return msgspec.convert(values[0], DeviceNumber)
    except msgspec.ValidationError:
        raise BadRequest(
            "deviceNumber: expected 1 to 64 characters without whitespace or control characters"
        ) from None
