"""AOI-1 websocket frames: one msgspec Struct per message type, tagged by ``messageType``.

Incoming frames decode once, at the edge, into a closed union. A frame that
fails decoding is turned into the response the contract prescribes: its own
response type with 400 when the request type is known, ``aoiErrorRes`` otherwise.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, TypeVar

import msgspec

from gateway.protocol.errors import reason

# ASCII space, C0 controls and DEL are refused in names (contract clarification 3).
# ``\Z``, not ``$``: msgspec searches with Python's re, where ``$`` also matches
# before a trailing newline.
_PRINTABLE = "\\A[^\\x00-\\x20\\x7f]+\\Z"
_NAME = re.compile(_PRINTABLE)

TransactionID = Annotated[str, msgspec.Meta(max_length=64)]
GatewayID = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
DeviceNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_PRINTABLE)]
ApplicationID = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=_PRINTABLE)]


def is_name(text: str, max_length: int) -> bool:
    """True for a deviceNumber (``max_length`` 64) or applicationID (255): 1 to
    ``max_length`` characters, none of them ASCII space, C0 control or DEL."""
    return len(text) <= max_length and _NAME.match(text) is not None


class Response(msgspec.Struct, tag_field="messageType", kw_only=True, omit_defaults=True):
    """Fields every response carries."""

    code: int
    desc: str
    detail: str | None = None
    transactionID: str | None = None


class AoiErrorRes(Response, tag="aoiErrorRes"):
    """Answer to a frame that names no known request."""


class AoiClientRegistrationRes(Response, tag="aoiClientRegistrationRes"):
    clientID: str | None = None


class AoiClientDeregistrationRes(Response, tag="aoiClientDeregistrationRes"):
    pass


class NotificationChannelActivationRes(Response, tag="notificationChannelActivationRes"):
    pass


class NotificationChannelDeactivationRes(Response, tag="notificationChannelDeactivationRes"):
    pass


class ClientApplicationRegistrationRes(Response, tag="clientApplicationRegistrationRes"):
    registrationID: str | None = None


class ClientApplicationDeregistrationRes(Response, tag="clientApplicationDeregistrationRes"):
    pass


class Request(msgspec.Struct, tag_field="messageType", kw_only=True):
    """Fields every request may carry; ``response`` is the type that answers it."""

    response: ClassVar[type[Response]]
    transactionID: TransactionID | None = None


class AoiClientRegistrationReq(Request, tag="aoiClientRegistrationReq"):
    response = AoiClientRegistrationRes
    deviceNumber: DeviceNumber


class AoiClientDeregistrationReq(Request, tag="aoiClientDeregistrationReq"):
    response = AoiClientDeregistrationRes
    clientID: GatewayID


class NotificationChannelActivationReq(Request, tag="notificationChannelActivationReq"):
    response = NotificationChannelActivationRes
    clientID: GatewayID


class NotificationChannelDeactivationReq(Request, tag="notificationChannelDeactivationReq"):
    response = NotificationChannelDeactivationRes
    clientID: GatewayID


class ClientApplicationRegistrationReq(Request, tag="clientApplicationRegistrationReq"):
    response = ClientApplicationRegistrationRes
    clientID: GatewayID
    applicationID: ApplicationID


class ClientApplicationDeregistrationReq(Request, tag="clientApplicationDeregistrationReq"):
    response = ClientApplicationDeregistrationRes
    clientID: GatewayID
    applicationID: ApplicationID


class NotificationDeliveryRes(
    msgspec.Struct, tag_field="messageType", tag="notificationDeliveryRes", kw_only=True
):
    """The device's acknowledgement of one notification (not answered)."""

    notificationID: str
    code: int
    desc: str | None = None


class NotificationDeliveryReq(
    msgspec.Struct, tag_field="messageType", tag="notificationDeliveryReq", kw_only=True
):
    """A notification pushed to the device."""

    notificationID: str
    registrationID: str
    applicationID: str
    payload: str
    sentTime: int


REQUESTS: tuple[type[Request], ...] = (
    AoiClientRegistrationReq,
    AoiClientDeregistrationReq,
    NotificationChannelActivationReq,
    NotificationChannelDeactivationReq,
    ClientApplicationRegistrationReq,
    ClientApplicationDeregistrationReq,
)
Incoming = (
    AoiClientRegistrationReq
    | AoiClientDeregistrationReq
    | NotificationChannelActivationReq
    | NotificationChannelDeactivationReq
    | ClientApplicationRegistrationReq
    | ClientApplicationDeregistrationReq
    | NotificationDeliveryRes
)
_RESPONSE_OF_TAG: dict[str, type[Response]] = {
    request.__struct_config__.tag: request.response  # type: ignore[misc]
    for request in REQUESTS
}

R = TypeVar("R", bound=Response)
_decoder = msgspec.json.Decoder(Incoming)
_encoder = msgspec.json.Encoder()
_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.DOTALL)
_REGEX = re.compile(r"matching regex '.*'")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


class FrameError(Exception):
    """A frame that could not be decoded, with the response that answers it."""

    def __init__(self, response: Response, reason_label: str) -> None:
        super().__init__(response.detail)
        self.response = response
        self.reason = reason_label


def reply(response_type: type[R], code: int, detail: str | None = None, **fields: Any) -> R:
    """A response of ``response_type`` with ``desc`` taken from ``code``."""
    return response_type(code=code, desc=reason(code), detail=detail, **fields)


def encode(frame: msgspec.Struct) -> bytes:
    """JSON bytes of a frame."""
    return _encoder.encode(frame)


def describe(error: msgspec.ValidationError) -> str:
    """A sentence naming the offending field of a validation error."""
    text = str(error)
    missing = _MISSING.match(text)
    if missing:
        prefix = _PATH.match(text)
        parent = prefix.group("path") if prefix and prefix.group("path") else ""
        name = f"{parent}.{missing.group('field')}" if parent else missing.group("field")
        return f"{name}: required field missing"
    match = _PATH.match(text)
    assert match is not None
    message = _REGEX.sub("without whitespace or control characters", match.group("message"))
    message = message[:1].lower() + message[1:]
    path = match.group("path")
    return f"{path}: {message}" if path else message


def decode(text: str) -> Request | NotificationDeliveryRes:
    """Decode one incoming text frame, or raise FrameError carrying the answer."""
    try:
        frame: Request | NotificationDeliveryRes = _decoder.decode(text)
        return frame
    except msgspec.ValidationError as error:
        raise _invalid(text, describe(error)) from None
    except (msgspec.DecodeError, RecursionError) as error:
        raise _malformed(text, error) from None


def _malformed(text: str, error: Exception) -> FrameError:
    """The answer to a frame that does not parse as JSON (or nests too deeply)."""
    if not text.strip():
        return FrameError(reply(AoiErrorRes, 400, "frame is empty"), "json")
    if isinstance(error, RecursionError):
        return FrameError(
            reply(AoiErrorRes, 400, "frame is not valid JSON: nested too deeply"), "json"
        )
    return FrameError(reply(AoiErrorRes, 400, f"frame is not valid JSON: {error}"), "json")


def _invalid(text: str, detail: str) -> FrameError:
    try:
        envelope: Any = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError) as error:
        # The typed decoder stopped at a type mismatch before reaching a syntax error
        # (or a number out of range) further on: the frame is not valid JSON after all.
        return _malformed(text, error)
    if not isinstance(envelope, dict):
        return FrameError(reply(AoiErrorRes, 400, "frame is not a JSON object"), "not_object")
    transaction = envelope.get("transactionID")
    echo = transaction if isinstance(transaction, str) and len(transaction) <= 64 else None
    message_type = envelope.get("messageType")
    if not isinstance(message_type, str):
        return FrameError(
            reply(AoiErrorRes, 400, "messageType: expected a string", transactionID=echo),
            "no_message_type",
        )
    response_type = _RESPONSE_OF_TAG.get(message_type)
    if response_type is None:
        known = message_type == "notificationDeliveryRes"
        detail = detail if known else f"messageType: unknown message type {message_type[:80]!r}"
        label = "invalid_fields" if known else "unknown_message_type"
        return FrameError(reply(AoiErrorRes, 400, detail, transactionID=echo), label)
    return FrameError(reply(response_type, 400, detail, transactionID=echo), "invalid_fields")
