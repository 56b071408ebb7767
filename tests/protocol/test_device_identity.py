"""On an authenticated connection every procedure is about the token's device only (2.4):
another device's deviceNumber or clientID is 403 and changes nothing; the order of checks
is unknown clientID 404, another device's 403, this connection's own state 409."""

from __future__ import annotations

import pytest

from gateway.client import AppServer
from tests.auth import claims, hmac_secret, token, write
from tests.calls import TIMEOUT, UNKNOWN_ID, call, code_of, increase, metric_values
from tests.conftest import device_number

APP = "com.example.mail"


@pytest.fixture
def keyed_node(start_node, tmp_path):
    secret = write(tmp_path / "device.secret", hmac_secret())
    node = start_node(device_jwt_key=secret)
    node.secret = secret.read_bytes()
    return node


async def authenticated(connect, node, number: str):
    """A connection whose token names ``number``, registered, with one application."""
    device = await connect(node.ws_url, token=token(node.secret, "HS256", claims(number)))
    client_id = await device.register(number)
    registration_id = await device.register_application(client_id, APP)
    return device, client_id, registration_id


async def test_another_devices_ids_are_refused_on_every_procedure(keyed_node, connect, http):
    node, api = keyed_node, AppServer(keyed_node.url, http)
    victim_number, attacker_number = device_number(), device_number()
    victim, victim_id, victim_reg = await authenticated(connect, node, victim_number)
    await victim.activate(victim_id)
    attacker, attacker_id, _ = await authenticated(connect, node, attacker_number)
    before = await metric_values(http, node.url, "aoi_auth_failures_total")

    stolen = await call(attacker, "aoiClientRegistrationReq", deviceNumber=victim_number)
    assert stolen["code"] == 403 and "clientID" not in stolen
    on_victim = {"clientID": victim_id}
    for message_type, fields in [
        ("notificationChannelActivationReq", on_victim),
        ("notificationChannelDeactivationReq", on_victim),
        ("clientApplicationRegistrationReq", {**on_victim, "applicationID": "com.evil"}),
        ("clientApplicationDeregistrationReq", {**on_victim, "applicationID": APP}),
        ("aoiClientDeregistrationReq", on_victim),
    ]:
        refused = await call(attacker, message_type, **fields)
        assert refused["code"] == 403, (message_type, refused)
        assert "registrationID" not in refused
        unknown = await call(attacker, message_type, **{**fields, "clientID": UNKNOWN_ID})
        assert unknown["code"] == 404, message_type
    after = await metric_values(http, node.url, "aoi_auth_failures_total")
    assert increase(before, after, kind="device", reason="device") == 6

    # Nothing changed: the victim keeps its registration, application and channel.
    assert not victim.closed.is_set()
    status, info = await api.client(victim_id)
    assert status == 200 and info["channel"]["active"] is True
    assert info["applications"] == [{"applicationID": APP, "registrationID": victim_reg}]
    status, sent = await api.send(victim_reg, "still yours")
    assert status == 202
    assert (await victim.next_notification(TIMEOUT))["notificationID"] == sent["notificationID"]
    assert attacker.notifications.empty()
    # The attacker's own client still works.
    assert await code_of(attacker, "notificationChannelActivationReq", clientID=attacker_id) == 200


async def test_activation_checks_404_then_403_then_409(keyed_node, connect):
    node = keyed_node
    other, other_id, _ = await authenticated(connect, node, device_number())
    device, client_id, _ = await authenticated(connect, node, device_number())
    await device.activate(client_id)
    activation = "notificationChannelActivationReq"
    assert await code_of(device, activation, clientID=UNKNOWN_ID) == 404
    assert await code_of(device, activation, clientID="not-an-id") == 404
    assert await code_of(device, activation, clientID=other_id) == 403
    assert await code_of(device, activation, clientID=client_id) == 200
    assert not other.closed.is_set()


async def test_unknown_client_is_404_before_the_connections_conflict(node, connect):
    """Clarification 18, without authentication: 409 is only for a known client."""
    device = await connect(node.ws_url)
    first = await device.register(device_number())
    second = await device.register(device_number())
    await device.activate(first)
    activation = "notificationChannelActivationReq"
    assert await code_of(device, activation, clientID=UNKNOWN_ID) == 404
    assert await code_of(device, activation, clientID=second) == 409
