"""Every AOI-1 procedure and error code of contract sections 1.1 to 1.8 against a real node."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.calls import (
    ID_ALPHABET,
    RESPONSE_OF,
    TIMEOUT,
    UNKNOWN_ID,
    call,
    code_of,
    metric_values,
    no_notification,
    sample,
    still_open,
)
from tests.conftest import device_number, wait_for

# Registration (1.3) -----------------------------------------------------------------------


async def test_registration(node, connect) -> None:
    device = await connect(node.ws_url)
    number = device_number()
    first = await call(device, "aoiClientRegistrationReq", deviceNumber=number)
    assert first["code"] == 200
    assert ID_ALPHABET.fullmatch(first["clientID"])
    again = await call(device, "aoiClientRegistrationReq", deviceNumber=number)
    assert again["code"] == 200 and again["clientID"] == first["clientID"]
    other = await connect(node.ws_url)
    from_other = await call(other, "aoiClientRegistrationReq", deviceNumber=number)
    assert from_other["clientID"] == first["clientID"]
    different = await call(device, "aoiClientRegistrationReq", deviceNumber=device_number())
    assert different["clientID"] != first["clientID"]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"deviceNumber": 5465465416846865465},
        {"deviceNumber": None},
        {"deviceNumber": ""},
        {"deviceNumber": "1" * 65},
        {"deviceNumber": "546 546"},
        {"deviceNumber": "546\t546"},
        {"deviceNumber": "546546\n"},
        {"deviceNumber": "\x01"},
        {"deviceNumber": "546\x7f"},
    ],
)
async def test_registration_bad_request(node, connect, fields) -> None:
    device = await connect(node.ws_url)
    response = await call(device, "aoiClientRegistrationReq", **fields)
    assert response["code"] == 400 and "clientID" not in response
    assert "deviceNumber" in response["detail"]


async def test_bad_fields_of_every_request_type(node, connect) -> None:
    device = await connect(node.ws_url)
    for message_type in RESPONSE_OF:
        response = await call(device, message_type, clientID=7, applicationID=7, deviceNumber=7)
        assert response["code"] == 400, response
    long_app = await call(
        device,
        "clientApplicationRegistrationReq",
        clientID=UNKNOWN_ID,
        applicationID="a" * 256,
    )
    assert long_app["code"] == 400 and "applicationID" in long_app["detail"]
    spaced_app = await call(
        device,
        "clientApplicationDeregistrationReq",
        clientID=UNKNOWN_ID,
        applicationID="com example",
    )
    assert spaced_app["code"] == 400 and "applicationID" in spaced_app["detail"]
    assert await still_open(device)


# Deregistration (1.4) ---------------------------------------------------------------------


async def test_deregistration(node, connect, app_server) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    registration_id = await device.register_application(client_id, "com.example.mail")
    status, queued = await app_server.send(registration_id, "pending")
    assert status == 202
    assert await code_of(device, "aoiClientDeregistrationReq", clientID=client_id) == 200
    assert await code_of(device, "aoiClientDeregistrationReq", clientID=client_id) == 404
    assert await code_of(device, "notificationChannelActivationReq", clientID=client_id) == 404
    assert (
        await code_of(
            device, "clientApplicationRegistrationReq", clientID=client_id, applicationID="x.y"
        )
        == 404
    )
    status, body = await app_server.send(registration_id, "after")
    assert status == 404 and body["code"] == 404 and body["desc"] == "Not Found"
    status, record = await app_server.status(queued["notificationID"])
    assert status == 200 and record["status"] == "cancelled"
    # The connection that carried the request is not closed by the node.
    assert await still_open(device)


async def test_deregistration_unknown(node, connect) -> None:
    device = await connect(node.ws_url)
    for client_id in (UNKNOWN_ID, "not-an-id"):
        response = await call(device, "aoiClientDeregistrationReq", clientID=client_id)
        assert response["code"] == 404


async def test_deregistration_from_fresh_connection_closes_channel(node, connect) -> None:
    channel = await connect(node.ws_url)
    client_id = await channel.register(device_number())
    await channel.activate(client_id)
    fresh = await connect(node.ws_url)
    assert await code_of(fresh, "aoiClientDeregistrationReq", clientID=client_id) == 200
    assert await channel.wait_closed(TIMEOUT) == 4002
    assert channel.close_reason == "deregistered"
    assert await still_open(fresh)


async def test_deregistration_over_the_channel_closes_nothing(node, connect) -> None:
    channel = await connect(node.ws_url)
    bystander = await connect(node.ws_url)
    client_id = await channel.register(device_number())
    await channel.activate(client_id)
    assert await code_of(channel, "aoiClientDeregistrationReq", clientID=client_id) == 200
    assert await still_open(channel)
    assert await still_open(bystander)
    assert await code_of(channel, "notificationChannelActivationReq", clientID=client_id) == 404


# Activation (1.5) -------------------------------------------------------------------------


async def test_activation(node, connect, app_server) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    assert await code_of(device, "notificationChannelActivationReq", clientID=client_id) == 200
    registration_id = await device.register_application(client_id, "com.example.mail")
    status, _ = await app_server.send(registration_id, "hello")
    assert status == 202
    assert (await device.next_notification(TIMEOUT))["payload"] == "hello"
    status, info = await app_server.client(client_id)
    assert status == 200 and info["channel"]["active"] is True
    assert info["channel"]["node"] == node.node_id


async def test_activation_unknown(node, connect) -> None:
    device = await connect(node.ws_url)
    for client_id in (UNKNOWN_ID, "short"):
        response = await call(device, "notificationChannelActivationReq", clientID=client_id)
        assert response["code"] == 404


async def test_activation_conflict(node, connect) -> None:
    device = await connect(node.ws_url)
    first = await device.register(device_number())
    second = await device.register(device_number())
    await device.activate(first)
    response = await call(device, "notificationChannelActivationReq", clientID=second)
    assert response["code"] == 409
    assert await code_of(device, "notificationChannelActivationReq", clientID=first) == 200
    assert await still_open(device)


async def test_activation_again_on_same_connection(node, connect) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    for _ in range(3):
        assert await code_of(device, "notificationChannelActivationReq", clientID=client_id) == 200
    assert await still_open(device)


async def test_activation_supersedes(node, connect, app_server) -> None:
    first = await connect(node.ws_url)
    second = await connect(node.ws_url)
    client_id = await first.register(device_number())
    registration_id = await first.register_application(client_id, "com.example.mail")
    await first.activate(client_id)
    assert await code_of(second, "notificationChannelActivationReq", clientID=client_id) == 200
    assert await first.wait_closed(TIMEOUT) == 4001
    assert first.close_reason == "superseded"
    status, _ = await app_server.send(registration_id, "to-second")
    assert status == 202
    assert (await second.next_notification(TIMEOUT))["payload"] == "to-second"


# Deactivation (1.6) -----------------------------------------------------------------------


async def test_deactivation(node, connect, app_server) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    registration_id = await device.register_application(client_id, "com.example.mail")
    await device.activate(client_id)
    assert await code_of(device, "notificationChannelDeactivationReq", clientID=client_id) == 200
    status, queued = await app_server.send(registration_id, "later")
    assert status == 202
    assert await no_notification(device)
    status, record = await app_server.status(queued["notificationID"])
    assert record["status"] == "queued"
    assert await still_open(device)
    await device.activate(client_id)
    note = await device.next_notification(TIMEOUT)
    assert note["notificationID"] == queued["notificationID"]


async def test_deactivation_without_channel_and_unknown(node, connect) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    assert await code_of(device, "notificationChannelDeactivationReq", clientID=client_id) == 200
    assert await code_of(device, "notificationChannelDeactivationReq", clientID=client_id) == 200
    assert await code_of(device, "notificationChannelDeactivationReq", clientID=UNKNOWN_ID) == 404
    assert await still_open(device)


async def test_deactivation_from_other_connection_stops_pushing(node, connect, app_server) -> None:
    channel = await connect(node.ws_url)
    other = await connect(node.ws_url)
    client_id = await channel.register(device_number())
    registration_id = await channel.register_application(client_id, "com.example.mail")
    await channel.activate(client_id)
    assert await code_of(other, "notificationChannelDeactivationReq", clientID=client_id) == 200
    status, _ = await app_server.send(registration_id, "not now")
    assert status == 202
    assert await no_notification(channel)
    assert not channel.closed.is_set()


# Application registration (1.7) and deregistration (1.8) ----------------------------------


async def test_application_registration(node, connect) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    fields = {"clientID": client_id, "applicationID": "com.example.mail"}
    first = await call(device, "clientApplicationRegistrationReq", **fields)
    assert first["code"] == 200 and ID_ALPHABET.fullmatch(first["registrationID"])
    again = await call(device, "clientApplicationRegistrationReq", **fields)
    assert again["registrationID"] == first["registrationID"]
    other = await call(
        device, "clientApplicationRegistrationReq", clientID=client_id, applicationID="com.b"
    )
    assert other["code"] == 200 and other["registrationID"] != first["registrationID"]
    unknown = await call(
        device, "clientApplicationRegistrationReq", clientID=UNKNOWN_ID, applicationID="com.c"
    )
    assert unknown["code"] == 404 and "registrationID" not in unknown


async def test_application_limit(start_node, connect) -> None:
    node = start_node(max_applications=3)
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    registered = [await device.register_application(client_id, f"com.app{i}") for i in range(3)]
    over = await call(
        device, "clientApplicationRegistrationReq", clientID=client_id, applicationID="com.app3"
    )
    assert over["code"] == 403 and "registrationID" not in over
    again = await call(
        device, "clientApplicationRegistrationReq", clientID=client_id, applicationID="com.app1"
    )
    assert again["code"] == 200 and again["registrationID"] == registered[1]
    await device.deregister_application(client_id, "com.app0")
    room = await call(
        device, "clientApplicationRegistrationReq", clientID=client_id, applicationID="com.app3"
    )
    assert room["code"] == 200


async def test_application_deregistration(node, connect, app_server) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    registration_id = await device.register_application(client_id, "com.example.mail")
    status, queued = await app_server.send(registration_id, "pending")
    assert status == 202
    fields = {"clientID": client_id, "applicationID": "com.example.mail"}
    assert await code_of(device, "clientApplicationDeregistrationReq", **fields) == 200
    assert await code_of(device, "clientApplicationDeregistrationReq", **fields) == 404
    unknown = {"clientID": UNKNOWN_ID, "applicationID": "com.example.mail"}
    assert await code_of(device, "clientApplicationDeregistrationReq", **unknown) == 404
    never = {"clientID": client_id, "applicationID": "com.never"}
    assert await code_of(device, "clientApplicationDeregistrationReq", **never) == 404
    status, body = await app_server.send(registration_id, "after")
    assert status == 404 and body["desc"] == "Not Found"
    status, record = await app_server.status(queued["notificationID"])
    assert record["status"] == "cancelled"
    renewed = await device.register_application(client_id, "com.example.mail")
    assert renewed != registration_id


# Transport (1.1, 1.2) ---------------------------------------------------------------------


async def test_transaction_id_echoed_on_every_response_type(node, connect) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    app = {"clientID": client_id, "applicationID": "a"}
    requests = [
        {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()},
        {"messageType": "aoiClientRegistrationReq", "deviceNumber": ""},
        {"messageType": "notificationChannelActivationReq", "clientID": client_id},
        {"messageType": "notificationChannelDeactivationReq", "clientID": client_id},
        {"messageType": "clientApplicationRegistrationReq", **app},
        {"messageType": "clientApplicationDeregistrationReq", **app},
        {"messageType": "clientApplicationDeregistrationReq", **app},
        {"messageType": "aoiClientDeregistrationReq", "clientID": client_id},
        {"messageType": "aoiClientDeregistrationReq", "clientID": client_id},
        {"messageType": "noSuchReq"},
        {"messageType": 12},
        {"deviceNumber": "no type"},
    ]
    seen = set()
    for index, frame in enumerate(requests):
        transaction = f"tx-{index}-" + "x" * 50
        await device.send_text(json.dumps({**frame, "transactionID": transaction}))
        async with asyncio.timeout(TIMEOUT):
            response = await device.unmatched.get()
        assert response["transactionID"] == transaction, response
        seen.add((response["messageType"], response["code"]))
    assert {kind for kind, _ in seen} == {*RESPONSE_OF.values(), "aoiErrorRes"}
    assert ("aoiClientRegistrationRes", 400) in seen
    assert ("clientApplicationDeregistrationRes", 404) in seen


async def test_pipelined_requests_answered_in_order(node, connect) -> None:
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    frames = []
    for index in range(20):
        kind = index % 4
        if kind == 0:
            frame = {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()}
        elif kind == 1:
            frame = {
                "messageType": "clientApplicationRegistrationReq",
                "clientID": client_id,
                "applicationID": f"com.app{index}",
            }
        elif kind == 2:
            frame = {"messageType": "bogus"}
        else:
            frame = {"messageType": "notificationChannelDeactivationReq", "clientID": client_id}
        frames.append({**frame, "transactionID": f"p{index}"})
    await asyncio.gather(*(device.send_text(json.dumps(frame)) for frame in frames))
    answers = []
    async with asyncio.timeout(TIMEOUT):
        for _ in frames:
            answers.append(await device.unmatched.get())
    assert [a["transactionID"] for a in answers] == [f["transactionID"] for f in frames]
    for frame, answer in zip(frames, answers, strict=True):
        expected = RESPONSE_OF.get(frame["messageType"], "aoiErrorRes")
        assert answer["messageType"] == expected
        assert answer["code"] == (400 if expected == "aoiErrorRes" else 200)


async def test_metrics_move(node, connect, http) -> None:
    before_requests = await metric_values(http, node.url, "aoi_requests_total")
    before_errors = await metric_values(http, node.url, "aoi_protocol_errors_total")
    device = await connect(node.ws_url)
    await device.register(device_number())
    await device.send_text("not json")
    async with asyncio.timeout(TIMEOUT):
        error = await device.unmatched.get()
    assert error["messageType"] == "aoiErrorRes"
    await device.send_text(json.dumps({"messageType": "Nope"}))
    async with asyncio.timeout(TIMEOUT):
        await device.unmatched.get()
    after_requests = await metric_values(http, node.url, "aoi_requests_total")
    after_errors = await metric_values(http, node.url, "aoi_protocol_errors_total")
    registration = {"message_type": "aoiClientRegistrationReq", "code": "200"}
    assert sample(after_requests, **registration) == sample(before_requests, **registration) + 1
    assert sample(after_errors, reason="json") == sample(before_errors, reason="json") + 1
    assert (
        sample(after_errors, reason="unknown_message_type")
        == sample(before_errors, reason="unknown_message_type") + 1
    )
    invalid = {"code": "400"}
    assert sample(after_requests, **invalid) >= sample(before_requests, **invalid) + 1

    await device.ws.send_bytes(b"\x00")
    assert await device.wait_closed(TIMEOUT) == 1003

    async def binary_counted() -> bool:
        values = await metric_values(http, node.url, "aoi_protocol_errors_total")
        return sample(values, reason="binary") == sample(before_errors, reason="binary") + 1

    assert await wait_for(binary_counted, TIMEOUT)
