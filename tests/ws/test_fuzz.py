"""Seeded fuzzing of the websocket endpoint: malformed frames never crash a node or lose data."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from gateway.client import Device
from gateway.protocol import frames as decoding
from tests.conftest import device_number

SEED = 1234
FRAME_COUNT = 500
BATCH = 25
FRAME_LIMIT = 16384
FUZZ_DEADLINE = 60.0
TIMEOUT = 5.0

REQUEST_FIELDS: dict[str, dict[str, Any]] = {
    "aoiClientRegistrationReq": {"deviceNumber": "5465465416846865465"},
    "aoiClientDeregistrationReq": {"clientID": "AAAAAAAAAAA" + "B" * 22},
    "notificationChannelActivationReq": {"clientID": "AAAAAAAAAAA" + "B" * 22},
    "notificationChannelDeactivationReq": {"clientID": "AAAAAAAAAAA" + "B" * 22},
    "clientApplicationRegistrationReq": {
        "clientID": "AAAAAAAAAAA" + "B" * 22,
        "applicationID": "com.example.mail",
    },
    "clientApplicationDeregistrationReq": {
        "clientID": "AAAAAAAAAAA" + "B" * 22,
        "applicationID": "com.example.mail",
    },
    "notificationDeliveryRes": {"notificationID": "n", "code": 200},
}
RESPONSE_OF = {name: name[:-3] + "Res" for name in REQUEST_FIELDS if name.endswith("Req")}
WRONG_VALUES: list[Any] = [
    0,
    -1,
    10**30,
    1.5,
    1e308,
    True,
    False,
    None,
    [],
    ["text"],
    {},
    {"nested": {"deeper": [1, 2, 3]}},
]


def _nested(rng: random.Random) -> str:
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    deepest = (FRAME_LIMIT - 200) // (len(opener) + len(closer))
    depth = rng.choice([64, 500, deepest // 4, deepest // 2, deepest])
    inner = opener * depth + "1" + closer * depth
    if rng.random() < 0.5:
        return inner
    message_type = rng.choice(list(REQUEST_FIELDS))
    return '{"messageType": "%s", "deviceNumber": %s}' % (message_type, inner)  # noqa: UP031


def _random_text(rng: random.Random) -> str:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))).decode("latin-1")


def _huge(rng: random.Random) -> str:
    # Requests only: an acknowledgement with a huge notificationID would be valid.
    message_type = rng.choice(list(RESPONSE_OF))
    fields = dict(REQUEST_FIELDS[message_type])
    name = rng.choice([*fields, "padding"])
    envelope = json.dumps({"messageType": message_type, **fields, name: ""})
    room = FRAME_LIMIT - len(envelope) - 64
    char = rng.choice("ab 9é\t")
    size = len(json.dumps(char, ensure_ascii=False).encode()) - 2  # bytes per character
    fields[name] = char * (rng.randrange(room // 2, room) // size)
    if name == "padding":  # unknown fields are ignored: make the frame invalid elsewhere
        fields.pop(rng.choice(list(REQUEST_FIELDS[message_type])))
    return json.dumps({"messageType": message_type, **fields}, ensure_ascii=False)


def _unknown_type(rng: random.Random) -> str:
    base = rng.choice(list(REQUEST_FIELDS))
    variants = [
        base.upper(),
        base[0].upper() + base[1:],
        base + " ",
        " " + base,
        base + "\n",
        base[:-1],
        base.replace("Req", "Res") if base.endswith("Req") else base + "x",
        "".join(rng.choice("abcXYZ_-.") for _ in range(rng.randrange(0, 40))),
    ]
    return json.dumps({"messageType": rng.choice(variants), **REQUEST_FIELDS[base]})


def _non_object(rng: random.Random) -> str:
    return rng.choice(
        [
            *["[]", "[1, 2, 3]", "0", "-1.5e3", "null", "true", "false", '"x"', "", "   "],
            '[{"messageType": "aoiClientRegistrationReq", "deviceNumber": "1"}]',
        ]
    )


def _broken_json(rng: random.Random) -> str:
    valid = json.dumps({"messageType": "aoiClientRegistrationReq", "deviceNumber": "123"})
    cut = rng.randrange(1, len(valid) - 1)
    return rng.choice(
        [
            valid[:cut],
            valid[:cut] + valid[cut + 1 :],
            valid + rng.choice(["}", ",", " x", "{}"]),
            valid.replace('"', "'"),
            '{"messageType": "aoiClientRegistrationReq", "deviceNumber": "\\ud800"}',
            '{"messageType": "aoiClientRegistrationReq", "deviceNumber": 1e999}',
        ]
    )


def _bad_names(rng: random.Random) -> str:
    message_type = rng.choice(["aoiClientRegistrationReq", "clientApplicationRegistrationReq"])
    fields = dict(REQUEST_FIELDS[message_type])
    name = "deviceNumber" if "deviceNumber" in fields else "applicationID"
    bad = rng.choice([" ", "\t", "\n", "\r", "\x00", "\x07", "\x1f", "\x7f"])
    position = rng.randrange(len(fields[name]) + 1)
    fields[name] = fields[name][:position] + bad + fields[name][position:]
    return json.dumps({"messageType": message_type, **fields, "transactionID": "bad-name"})


def wrong_type_frames() -> list[str]:
    """Every field of every request type (and the envelope) with every wrong value."""
    frames = []
    for message_type, fields in REQUEST_FIELDS.items():
        names = [*fields, "transactionID"]
        for name in names:
            for value in WRONG_VALUES:
                if name == "transactionID" and value is None:
                    continue  # null transactionID is an absent one: the frame would be valid
                if name == "code" and isinstance(value, int) and not isinstance(value, bool):
                    continue  # any integer is a valid acknowledgement code
                frame = {"messageType": message_type, **fields, name: value}
                if message_type == "notificationDeliveryRes" and name == "transactionID":
                    frame.pop("notificationID")  # otherwise a valid (unanswered) ack
                frames.append(json.dumps(frame))
        for value in WRONG_VALUES:
            frames.append(json.dumps({**fields, "messageType": value}))
    return frames


def fuzz_frames() -> list[str]:
    rng = random.Random(SEED)
    frames = wrong_type_frames()
    makers = [_random_text, _huge, _nested, _unknown_type, _non_object, _broken_json, _bad_names]
    while len(frames) < FRAME_COUNT:
        frames.append(rng.choice(makers)(rng))
    rng.shuffle(frames)
    return frames[:FRAME_COUNT]


def test_generator_is_deterministic_and_bounded() -> None:
    frames = fuzz_frames()
    assert frames == fuzz_frames()
    assert len(frames) == FRAME_COUNT
    assert max(len(frame.encode()) for frame in frames) < FRAME_LIMIT
    assert max(len(frame.encode()) for frame in frames) > FRAME_LIMIT * 3 // 4
    assert sum("[[[[" in frame or '{"a":{"a":' in frame for frame in frames) >= 5


def test_generated_frames_are_all_invalid() -> None:
    """Every generated frame must be answered, so none may decode as a valid frame."""
    for frame in fuzz_frames():
        with pytest.raises(decoding.FrameError):
            decoding.decode(frame)


def check_answer(answer: dict[str, Any]) -> None:
    assert answer["code"] in (400, 429), answer
    assert answer["messageType"] in {"aoiErrorRes", *RESPONSE_OF.values()}, answer
    assert answer["desc"] == {400: "Bad Request", 429: "Too Many Requests"}[answer["code"]]
    assert isinstance(answer.get("detail"), str) and answer["detail"].strip(), answer
    assert "clientID" not in answer and "registrationID" not in answer


async def send_batch(device: Device, batch: list[str]) -> int:
    """Send frames pipelined; check every answer until all are answered or the node closes."""
    for frame in batch:
        if device.closed.is_set():
            break
        try:
            await device.send_text(frame)
        except ConnectionError:
            break  # the node closed the connection meanwhile: checked below
    answered = 0
    while answered < len(batch):
        getter = asyncio.ensure_future(device.unmatched.get())
        closed = asyncio.ensure_future(device.closed.wait())
        done, _ = await asyncio.wait(
            {getter, closed}, timeout=TIMEOUT, return_when="FIRST_COMPLETED"
        )
        if getter in done:
            closed.cancel()
            check_answer(getter.result())
            answered += 1
            continue
        getter.cancel()
        closed.cancel()
        assert done, f"no answer within {TIMEOUT} s"
        # The node may close a connection that keeps sending invalid frames (1008).
        assert device.close_code == 1008, device.close_code
        while not device.unmatched.empty():
            check_answer(device.unmatched.get_nowait())
            answered += 1
        break
    return answered


@pytest.mark.timeout(110)
async def test_fuzzed_frames(start_node, connect, http) -> None:
    from gateway.client import AppServer

    node = start_node(max_frame_bytes=FRAME_LIMIT, request_rate=1000)
    app_server = AppServer(node.url, http)

    # Data stored before the fuzzing: a client with a pending notification.
    keeper = await connect(node.ws_url)
    victim = await keeper.register(device_number())
    victim_registration = await keeper.register_application(victim, "com.example.keep")
    status, queued = await app_server.send(victim_registration, "survive the fuzz")
    assert status == 202
    await keeper.close()

    frames = fuzz_frames()
    answered = connections = 0
    device: Device | None = None
    async with asyncio.timeout(FUZZ_DEADLINE):
        for start in range(0, len(frames), BATCH):
            if device is None or device.closed.is_set():
                device = await connect(node.ws_url)
                connections += 1
            answered += await send_batch(device, frames[start : start + BATCH])
    print(f"fuzz: {answered} answered over {connections} connections")
    assert answered >= FRAME_COUNT // 2
    assert node.process is not None and node.process.poll() is None
    errors = [line for line in node.log_lines() if line.get("level") in ("error", "critical")]
    assert errors == []

    # The node still serves: health, readiness and the whole procedure set.
    assert node.http_status("/healthz") == 200
    assert node.http_status("/readyz") == 200
    fresh = await connect(node.ws_url)
    client_id = await fresh.register(device_number())
    await fresh.activate(client_id)
    registration_id = await fresh.register_application(client_id, "com.example.after")
    status, _ = await app_server.send(registration_id, "after the fuzz")
    assert status == 202
    assert (await fresh.next_notification(TIMEOUT))["payload"] == "after the fuzz"

    # The data stored before is untouched.
    status, record = await app_server.status(queued["notificationID"])
    assert status == 200 and record["status"] == "queued"
    status, info = await app_server.client(victim)
    assert status == 200 and info["pendingNotifications"] == 1
    owner = await connect(node.ws_url)
    await owner.activate(victim)
    note = await owner.next_notification(TIMEOUT)
    assert note["notificationID"] == queued["notificationID"]
    assert note["payload"] == "survive the fuzz"
