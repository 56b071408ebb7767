"""Unit tests of gateway/frames.py: decoding, error answers, reply and encode (no Redis)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import msgspec
import pytest

from gateway.protocol import frames
from tests.contract import DESC

CLIENT_ID = "AbCdEfGhIjK" + "x" * 22
VALID: dict[str, dict[str, Any]] = {
    "aoiClientRegistrationReq": {"deviceNumber": "5465465416846865465"},
    "aoiClientDeregistrationReq": {"clientID": CLIENT_ID},
    "notificationChannelActivationReq": {"clientID": CLIENT_ID},
    "notificationChannelDeactivationReq": {"clientID": CLIENT_ID},
    "clientApplicationRegistrationReq": {"clientID": CLIENT_ID, "applicationID": "com.example"},
    "clientApplicationDeregistrationReq": {"clientID": CLIENT_ID, "applicationID": "com.example"},
}
RESPONSE_OF = {name: name[:-3] + "Res" for name in VALID}
NAME_FIELDS = [
    (message_type, name)
    for message_type, fields in VALID.items()
    for name in fields
    if name in ("deviceNumber", "applicationID")
]
FIELDS = [(message_type, name) for message_type, fields in VALID.items() for name in fields]
BAD_CHARACTERS = [" ", "\t", "\n", "\r", "\x00", "\x01", "\x1b", "\x1f", "\x7f"]


def text(message_type: str, **fields: Any) -> str:
    return json.dumps({"messageType": message_type, **fields})


def frame_error(raw: str) -> dict[str, Any]:
    """Decode ``raw`` expecting a FrameError; returns its response as JSON."""
    with pytest.raises(frames.FrameError) as caught:
        frames.decode(raw)
    answer: dict[str, Any] = json.loads(frames.encode(caught.value.response))
    assert answer["code"] == 400 and answer["desc"] == "Bad Request"
    assert isinstance(answer.get("detail"), str) and answer["detail"].strip()
    return answer


@pytest.mark.parametrize("message_type", list(VALID))
def test_every_request_type_decodes(message_type: str) -> None:
    decoded = frames.decode(text(message_type, transactionID="tx-1", **VALID[message_type]))
    assert isinstance(decoded, frames.Request)
    assert decoded.__struct_config__.tag == message_type
    assert decoded.transactionID == "tx-1"
    for name, value in VALID[message_type].items():
        assert getattr(decoded, name) == value
    assert decoded.response.__struct_config__.tag == RESPONSE_OF[message_type]


def test_acknowledgement_decodes() -> None:
    raw = text("notificationDeliveryRes", notificationID="n1", code=200, desc="OK")
    decoded = frames.decode(raw)
    assert isinstance(decoded, frames.NotificationDeliveryRes)
    assert (decoded.notificationID, decoded.code) == ("n1", 200)


def test_unknown_fields_are_ignored() -> None:
    raw = text(
        "clientApplicationRegistrationReq",
        clientID=CLIENT_ID,
        applicationID="com.example",
        future={"nested": [1, 2, {"x": None}]},
        version=3,
    )
    decoded = frames.decode(raw)
    assert isinstance(decoded, frames.ClientApplicationRegistrationReq)
    assert decoded.applicationID == "com.example"


def test_transaction_id_is_optional() -> None:
    decoded = frames.decode(text("aoiClientRegistrationReq", deviceNumber="123"))
    assert isinstance(decoded, frames.AoiClientRegistrationReq)
    assert decoded.transactionID is None


def test_limits_are_inclusive() -> None:
    longest_device = "9" * 64
    decoded = frames.decode(text("aoiClientRegistrationReq", deviceNumber=longest_device))
    assert isinstance(decoded, frames.AoiClientRegistrationReq)
    # Lengths count characters, not bytes; non-ASCII printable characters are allowed.
    decoded = frames.decode(text("aoiClientRegistrationReq", deviceNumber="é" * 64))
    assert isinstance(decoded, frames.AoiClientRegistrationReq)
    longest_app = "a" * 255
    raw = text("clientApplicationRegistrationReq", clientID=CLIENT_ID, applicationID=longest_app)
    decoded = frames.decode(raw)
    assert isinstance(decoded, frames.ClientApplicationRegistrationReq)


@pytest.mark.parametrize(("message_type", "field"), FIELDS)
def test_missing_field(message_type: str, field: str) -> None:
    fields = {k: v for k, v in VALID[message_type].items() if k != field}
    answer = frame_error(text(message_type, transactionID="t-9", **fields))
    assert answer["messageType"] == RESPONSE_OF[message_type]
    assert field in answer["detail"]
    assert answer["transactionID"] == "t-9"


@pytest.mark.parametrize(("message_type", "field"), FIELDS)
@pytest.mark.parametrize("value", [5, 1.5, True, None, [], {}, ["x"]])
def test_wrong_type(message_type: str, field: str, value: Any) -> None:
    answer = frame_error(text(message_type, **{**VALID[message_type], field: value}))
    assert answer["messageType"] == RESPONSE_OF[message_type]
    assert field in answer["detail"]
    assert "clientID" not in answer and "registrationID" not in answer


@pytest.mark.parametrize(("message_type", "field"), FIELDS)
def test_empty_field(message_type: str, field: str) -> None:
    answer = frame_error(text(message_type, **{**VALID[message_type], field: ""}))
    assert answer["messageType"] == RESPONSE_OF[message_type]
    assert field in answer["detail"]


@pytest.mark.parametrize(("message_type", "field"), FIELDS)
def test_too_long_field(message_type: str, field: str) -> None:
    limit = 255 if field == "applicationID" else 64
    answer = frame_error(text(message_type, **{**VALID[message_type], field: "a" * (limit + 1)}))
    assert answer["messageType"] == RESPONSE_OF[message_type]
    assert field in answer["detail"]


@pytest.mark.parametrize(("message_type", "field"), NAME_FIELDS)
@pytest.mark.parametrize("bad", BAD_CHARACTERS)
@pytest.mark.parametrize("where", ["start", "middle", "end", "only"])
def test_whitespace_and_control_characters(
    message_type: str, field: str, bad: str, where: str
) -> None:
    value = {"start": bad + "abc", "middle": "ab" + bad + "c", "end": "abc" + bad, "only": bad}
    raw = text(message_type, transactionID="t-ws", **{**VALID[message_type], field: value[where]})
    answer = frame_error(raw)
    assert answer["messageType"] == RESPONSE_OF[message_type]
    assert field in answer["detail"]
    assert answer["transactionID"] == "t-ws"


@pytest.mark.parametrize(
    "message_type",
    [
        "AoiClientRegistrationReq",
        "aoiclientregistrationreq",
        "AOICLIENTREGISTRATIONREQ",
        "aoiClientRegistrationReq ",
        " aoiClientRegistrationReq",
        "aoiClientRegistrationReq\n",
        "aoiClientRegistrationRes",
        "aoiErrorRes",
        "notificationDeliveryReq",
        "",
        "nope",
    ],
)
def test_unknown_message_type(message_type: str) -> None:
    raw = text(message_type, deviceNumber="123", clientID=CLIENT_ID, transactionID="t-u")
    answer = frame_error(raw)
    assert answer["messageType"] == "aoiErrorRes"
    assert "messageType" in answer["detail"]
    assert answer["transactionID"] == "t-u"


@pytest.mark.parametrize("value", [5, None, True, [], {}, ["aoiClientRegistrationReq"]])
def test_message_type_not_a_string(value: Any) -> None:
    answer = frame_error(json.dumps({"messageType": value, "transactionID": "t-n"}))
    assert answer["messageType"] == "aoiErrorRes"
    assert "messageType" in answer["detail"]
    assert answer["transactionID"] == "t-n"


def test_message_type_missing() -> None:
    answer = frame_error(json.dumps({"deviceNumber": "123"}))
    assert answer["messageType"] == "aoiErrorRes"
    assert "messageType" in answer["detail"]


@pytest.mark.parametrize("raw", ["[]", "[1, 2]", "1", "-3.5", "null", "true", '"text"', '""'])
def test_json_that_is_not_an_object(raw: str) -> None:
    answer = frame_error(raw)
    assert answer["messageType"] == "aoiErrorRes"
    assert "transactionID" not in answer


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "}",
        "nul",
        "'single'",
        '{"messageType": "aoiClientRegistrationReq",}',
        '{"messageType": "aoiClientRegistrationReq"} trailing',
        "[1,",
        '{"messageType": "x",',
        '{"messageType": 5,',
        '{"messageType": "aoiClientRegistrationReq", "deviceNumber": 7',
        "\x00",
        "\ufeff{}",
        "[" * 5000 + "]" * 5000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        '{"messageType": "aoiClientRegistrationReq", "deviceNumber": ' + "[" * 5000,
        '{"messageType": "aoiClientRegistrationReq", "deviceNumber": 1e999}',
    ],
)
def test_invalid_json(raw: str) -> None:
    answer = frame_error(raw)
    assert answer["messageType"] == "aoiErrorRes"


@pytest.mark.parametrize("raw", ["", " ", "\t", "\n", "  \r\n\t  "])
def test_empty_and_whitespace_only(raw: str) -> None:
    answer = frame_error(raw)
    assert answer["messageType"] == "aoiErrorRes"
    assert "empty" in answer["detail"]


@pytest.mark.parametrize("transaction", ["", "t", "x" * 64, "with space", "ünï"])
def test_transaction_id_echoed_on_field_errors(transaction: str) -> None:
    answer = frame_error(
        text("aoiClientRegistrationReq", deviceNumber="", transactionID=transaction)
    )
    assert answer["messageType"] == "aoiClientRegistrationRes"
    assert answer["transactionID"] == transaction


@pytest.mark.parametrize("transaction", ["x" * 65, 5, None, ["t"], {"t": 1}])
def test_transaction_id_not_echoed_unless_short_string(transaction: Any) -> None:
    answer = frame_error(text("nope", transactionID=transaction))
    assert answer["messageType"] == "aoiErrorRes"
    assert "transactionID" not in answer


def test_over_long_transaction_id_is_refused() -> None:
    answer = frame_error(text("aoiClientRegistrationReq", deviceNumber="1", transactionID="x" * 65))
    assert answer["messageType"] == "aoiClientRegistrationRes"
    assert "transactionID" in answer["detail"]


def test_invalid_acknowledgement_is_answered_with_aoi_error() -> None:
    answer = frame_error(text("notificationDeliveryRes", code=200, transactionID="t-a"))
    assert answer["messageType"] == "aoiErrorRes"
    assert "notificationID" in answer["detail"]
    assert answer["transactionID"] == "t-a"


def test_frame_error_reasons() -> None:
    cases = {
        "": "json",
        "{": "json",
        "[]": "not_object",
        "{}": "no_message_type",
        text("Nope"): "unknown_message_type",
        text("aoiClientRegistrationReq"): "invalid_fields",
    }
    for raw, label in cases.items():
        with pytest.raises(frames.FrameError) as caught:
            frames.decode(raw)
        assert caught.value.reason == label, raw


@pytest.mark.parametrize("code", [200, 400, 403, 404, 409, 429, 500, 503])
def test_reply_desc_is_the_reason_phrase(code: int) -> None:
    for response_type in (frames.AoiErrorRes, *(r.response for r in frames.REQUESTS)):
        response = frames.reply(response_type, code)
        assert response.desc == HTTPStatus(code).phrase
        assert response.code == code


def test_reply_desc_matches_the_contract_table() -> None:
    for code, desc in DESC.items():
        assert frames.reply(frames.AoiErrorRes, code).desc == desc


def test_encode_omits_absent_fields() -> None:
    response = frames.reply(frames.AoiClientRegistrationRes, 503)
    assert json.loads(frames.encode(response)) == {
        "messageType": "aoiClientRegistrationRes",
        "code": 503,
        "desc": "Service Unavailable",
    }
    ok = frames.reply(frames.AoiClientRegistrationRes, 200, clientID="abc", transactionID="t")
    assert json.loads(frames.encode(ok)) == {
        "messageType": "aoiClientRegistrationRes",
        "clientID": "abc",
        "code": 200,
        "desc": "OK",
        "transactionID": "t",
    }


def test_encode_every_response_type() -> None:
    for request in frames.REQUESTS:
        response = frames.reply(request.response, 404, "clientID: unknown client")
        encoded = json.loads(frames.encode(response))
        assert encoded["messageType"] == RESPONSE_OF[request.__struct_config__.tag]
        assert encoded["detail"] == "clientID: unknown client"


def test_encode_notification() -> None:
    note = frames.NotificationDeliveryReq(
        notificationID="n", registrationID="r", applicationID="a", payload="p", sentTime=1
    )
    assert json.loads(frames.encode(note)) == {
        "messageType": "notificationDeliveryReq",
        "notificationID": "n",
        "registrationID": "r",
        "applicationID": "a",
        "payload": "p",
        "sentTime": 1,
    }


def test_describe_names_the_field() -> None:
    class Probe(msgspec.Struct):
        deviceNumber: frames.DeviceNumber

    cases = {
        "{}": "deviceNumber: required field missing",
        '{"deviceNumber": 1}': "deviceNumber: expected `str`, got `int`",
        '{"deviceNumber": "a b"}': "deviceNumber: expected `str` without whitespace or control",
    }
    for raw, expected in cases.items():
        with pytest.raises(msgspec.ValidationError) as caught:
            msgspec.json.decode(raw, type=Probe)
        assert frames.describe(caught.value).startswith(expected), raw
