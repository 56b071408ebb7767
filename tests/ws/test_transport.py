"""The websocket transport on a real node: binary frames, size limits, UTF-8, rate, compression."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from gateway.client import AppServer, Device
from tests.calls import (
    RESPONSE_OF,
    TIMEOUT,
    UNKNOWN_ID,
    code_of,
    metric_values,
    sample,
)
from tests.conftest import device_number, wait_for


async def test_binary_frame_closes_1003(node, connect) -> None:
    device = await connect(node.ws_url)
    await device.ws.send_bytes(b'{"messageType": "aoiClientRegistrationReq"}')
    assert await device.wait_closed(TIMEOUT) == 1003


async def test_message_over_limit_closes_1009(start_node, connect) -> None:
    node = start_node(max_frame_bytes=2048)
    device = await connect(node.ws_url)
    padding = "x" * 1900  # the whole frame stays under 2048 bytes
    response = await device.request(
        {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number(), "p": padding}
    )
    assert response["code"] == 200
    await device.send_text("x" * 3000)
    assert await device.wait_closed(TIMEOUT) == 1009


async def test_limit_counts_uncompressed_size(start_node, http) -> None:
    node = start_node(max_frame_bytes=2048, ws_compression="on")
    device = await Device.connect(node.ws_url, session=http, compress=15)
    try:
        assert device.ws.compress == 15
        await device.send_text(json.dumps({"messageType": "x", "p": "a" * 3000}))
        assert await device.wait_closed(TIMEOUT) == 1009
    finally:
        await device.close()


async def test_invalid_utf8_closes_1007(node, connect) -> None:
    device = await connect(node.ws_url)
    await device.ws.send_frame(b'{"messageType": "\xff\xfe"}', aiohttp.WSMsgType.TEXT)
    assert await device.wait_closed(TIMEOUT) == 1007


@pytest.mark.parametrize(
    ("frame", "reason"),
    [(b'{"messageType": "\xff\xfe"}', "invalid_utf8"), (b"x" * 3000, "too_large")],
)
async def test_close_1007_1009_counted(start_node, connect, http, frame, reason) -> None:
    node = start_node(max_frame_bytes=2048)
    before = await metric_values(http, node.url, "aoi_protocol_errors_total")
    device = await connect(node.ws_url)
    await device.ws.send_frame(frame, aiohttp.WSMsgType.TEXT)
    assert await device.wait_closed(TIMEOUT) in (1007, 1009)

    async def counted() -> bool:
        after = await metric_values(http, node.url, "aoi_protocol_errors_total")
        return sample(after, reason=reason) == sample(before, reason=reason) + 1

    assert await wait_for(counted, 2.0)


async def test_rate_limit_answers_429_of_own_type(start_node, connect) -> None:
    node = start_node(request_rate=2)
    device = await connect(node.ws_url)
    client_id = await device.register(device_number())
    kinds = list(RESPONSE_OF)
    frames = [
        {"messageType": kinds[i % len(kinds)], "clientID": UNKNOWN_ID, "deviceNumber": "x"}
        | {"applicationID": "com.a", "transactionID": f"r{i}"}
        for i in range(16)
    ]
    # The last one would remove the client if it were executed.
    frames[-1] = {
        "messageType": "aoiClientDeregistrationReq",
        "clientID": client_id,
        "transactionID": "last",
    }
    await asyncio.gather(*(device.send_text(json.dumps(frame)) for frame in frames))
    answers = []
    async with asyncio.timeout(TIMEOUT):
        for _ in frames:
            answers.append(await device.unmatched.get())
    codes = [a["code"] for a in answers]
    assert codes[0] != 429 and codes[-1] == 429
    for frame, answer in zip(frames, answers, strict=True):
        assert answer["transactionID"] == frame["transactionID"]
        assert answer["messageType"] == RESPONSE_OF[frame["messageType"]]
        if answer["code"] == 429:
            assert answer["desc"] == "Too Many Requests"
            assert "clientID" not in answer and "registrationID" not in answer
    assert not device.closed.is_set()

    # Once the bucket refills, requests are served again; the refused deregistration
    # was not executed, so the client still exists.
    async def activation_code() -> int | None:
        code = await code_of(device, "notificationChannelActivationReq", clientID=client_id)
        return None if code == 429 else code

    assert await wait_for(activation_code, TIMEOUT) == 200


async def test_permessage_deflate_is_declined_by_default(node, http) -> None:
    device = await Device.connect(node.ws_url, session=http, compress=15)
    try:
        assert device.ws.compress == 0  # the offer was declined: plain frames
        assert await device.register(device_number())
    finally:
        await device.close()


async def test_permessage_deflate_when_enabled(start_node, http) -> None:
    node = start_node(ws_compression="on")
    app_server = AppServer(node.url, http)
    device = await Device.connect(node.ws_url, session=http, compress=15)
    try:
        assert device.ws.compress == 15
        client_id = await device.register(device_number())
        await device.activate(client_id)
        registration_id = await device.register_application(client_id, "com.example.zip")
        payload = "compressible " * 200
        status, _ = await app_server.send(registration_id, payload)
        assert status == 202
        note = await device.next_notification(TIMEOUT)
        assert note["payload"] == payload
    finally:
        await device.close()
