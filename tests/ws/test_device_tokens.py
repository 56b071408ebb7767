"""Device tokens on the upgrade (contract 2.4): carriers, every refusal, every key kind,
rotation, and the 4003 close at expiry that loses nothing."""

from __future__ import annotations

import signal
import time

import aiohttp

from gateway.client import AppServer, Device
from tests.auth import (
    claims,
    ec_key,
    ed_key,
    forged_hs256,
    hmac_secret,
    jwks,
    public_pem,
    rsa_key,
    token,
    unsigned,
    upgrade_status,
    write,
)
from tests.calls import TIMEOUT, increase, metric_values, sample
from tests.conftest import device_number, wait_for

AUDIENCE, ISSUER = "aoi-devices", "https://id.example.com"


async def refusal(http, node, headers=None, query="") -> tuple[int, str]:
    """Status and detail of an upgrade the node must refuse with 401 and no websocket."""
    status, headers_back, body = await upgrade_status(http, node.ws_url + query, headers)
    assert status == 401, (status, body)
    assert headers_back["WWW-Authenticate"] == "Bearer"
    assert body["code"] == 401 and body["desc"] == "Unauthorized" and body["detail"]
    return status, body["detail"]


def bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


async def registers(connect, node, jwt: str, number: str, carrier: str = "header") -> bool:
    """A device with this token upgrades and registers its own deviceNumber."""
    if carrier == "header":
        device = await connect(node.ws_url, token=jwt)
    else:
        device = await connect(f"{node.ws_url}?access_token={jwt}")
    return bool(await device.register(number))


async def test_hmac_token_carriers_and_every_refusal(start_node, connect, http, tmp_path):
    secret = write(tmp_path / "device.secret", hmac_secret())
    node = start_node(device_jwt_key=secret, device_jwt_audience=AUDIENCE, device_jwt_issuer=ISSUER)
    key = secret.read_bytes()
    number = device_number()

    def signed(**changes) -> str:
        return token(key, "HS256", {**claims(number, aud=AUDIENCE, iss=ISSUER), **changes})

    assert await registers(connect, node, signed(), number, "header")
    assert await registers(connect, node, signed(), number, "query")
    now = int(time.time())
    # Clocks get 30 s of leeway on exp, nbf and iat.
    assert await registers(connect, node, signed(exp=now - 20, nbf=now + 20, iat=now + 20), number)

    before = await metric_values(http, node.url, "aoi_auth_failures_total")
    refused = {
        "missing": [None],
        "expired": [bearer(signed(exp=now - 40))],
        "invalid": [
            {"Authorization": "Basic dXNlcjpwdw=="},
            {"Authorization": f"Bearer  {signed()}"},
            {"Authorization": "Bearer"},
            bearer("not-a-jwt"),
            bearer(token(hmac_secret(), "HS256", claims(number, aud=AUDIENCE, iss=ISSUER))),
            bearer(signed(nbf=now + 60)),
            bearer(signed(iat=now + 60)),
            bearer(signed(aud="someone-else")),
            bearer(signed(iss="https://other.example.com")),
            bearer(token(key, "HS256", claims(number, iss=ISSUER))),  # no aud
            bearer(token(key, "HS256", {"sub": number, "aud": AUDIENCE, "iss": ISSUER})),  # no exp
            bearer(token(key, "HS256", {"exp": now + 60, "aud": AUDIENCE, "iss": ISSUER})),
            bearer(signed(sub="has space")),
            bearer(signed(sub="x" * 65)),
            bearer(signed(sub=12345)),
            bearer(unsigned(claims(number, aud=AUDIENCE, iss=ISSUER))),
        ],
    }
    for headers in refused["missing"] + refused["expired"] + refused["invalid"]:
        await refusal(http, node, headers)
    _, detail = await refusal(http, node, bearer(signed()), f"?access_token={signed()}")
    assert "one" in detail
    await refusal(http, node, query="?access_token=")
    after = await metric_values(http, node.url, "aoi_auth_failures_total")
    for reason, cases in refused.items():
        extra = 2 if reason == "invalid" else 0  # both carriers at once; an empty one
        assert increase(before, after, kind="device", reason=reason) == len(cases) + extra
    http_counts = await metric_values(http, node.url, "aoi_http_requests_total")
    assert sample(http_counts, route="/ws", code="401") == len(refused["invalid"]) + 4


async def test_rsa_key_refuses_algorithm_confusion_and_none(start_node, connect, http, tmp_path):
    private = rsa_key()
    pem = public_pem(private)
    node = start_node(device_jwt_key=write(tmp_path / "device.pem", pem))
    number = device_number()
    # No --device-jwt-audience: aud is not checked.
    assert await registers(connect, node, token(private, "RS256", claims(number, aud="x")), number)
    await refusal(http, node, bearer(forged_hs256(pem, claims(number))))
    await refusal(http, node, bearer(forged_hs256(pem.removesuffix(b"\n"), claims(number))))
    await refusal(http, node, bearer(unsigned(claims(number))))
    await refusal(http, node, bearer(token(rsa_key(), "RS256", claims(number))))
    _, detail = await refusal(http, node, bearer(token(private, "RS256", claims(number, -60))))
    assert "expired" in detail


async def test_key_kinds_and_rotation_keep_open_websockets(start_node, connect, http, tmp_path):
    """ES256, EdDSA, a JWKS of two keys chosen by kid, then HMAC: each file rewritten in
    place while a device stays connected; a broken rewrite keeps the key in force."""
    es, ed, rs = ec_key(), ed_key(), rsa_key()
    key_file = write(tmp_path / "device.key", public_pem(es))
    node = start_node(device_jwt_key=key_file)
    number = device_number()
    holder = await connect(node.ws_url, token=token(es, "ES256", claims(number)))
    client_id = await holder.register(number)

    async def accepted(jwt: str) -> bool:
        try:
            device = await Device.connect(node.ws_url, session=http, token=jwt)
        except aiohttp.WSServerHandshakeError as error:
            assert error.status == 401
            return False
        await device.close()
        return True

    es_token, ed_token = token(es, "ES256", claims(number)), token(ed, "EdDSA", claims(number))
    assert await accepted(es_token) and not await accepted(ed_token)
    write(key_file, public_pem(ed))  # seen by the node's poll, no signal
    await wait_for(lambda: accepted(ed_token), timeout=5)
    assert not await accepted(es_token)
    assert await registers(connect, node, ed_token, number)

    write(key_file, jwks((rs, "rsa-1"), (es, "ec-1")))
    node.signal(signal.SIGHUP)
    await wait_for(lambda: accepted(token(rs, "RS256", claims(number), kid="rsa-1")), TIMEOUT)
    assert await accepted(token(es, "ES256", claims(number), kid="ec-1"))
    assert not await accepted(token(es, "ES256", claims(number), kid="rsa-1"))
    assert not await accepted(token(rs, "RS256", claims(number), kid="nobody"))
    assert not await accepted(token(rs, "RS256", claims(number)))  # no kid
    assert not await accepted(ed_token)

    secret = hmac_secret()
    write(key_file, secret)
    node.signal(signal.SIGHUP)
    await wait_for(lambda: accepted(token(secret, "HS256", claims(number))), TIMEOUT)
    assert await registers(connect, node, token(secret, "HS256", claims(number)), number)

    write(key_file, b"too short\n")  # refused: the HMAC key in force stays
    node.signal(signal.SIGHUP)
    await wait_for(lambda: any(line["level"] == "error" for line in node.log_lines()), TIMEOUT)
    assert await accepted(token(secret, "HS256", claims(number)))
    assert await holder.register(number) == client_id  # still open, still the same device
    assert "too short" not in node.log_path.read_text()


async def test_expiry_closes_with_4003_and_loses_nothing(start_node, connect, http, tmp_path):
    secret = write(tmp_path / "device.secret", hmac_secret())
    node = start_node(device_jwt_key=secret)
    api = AppServer(node.url, http)
    number = device_number()
    # Expired 27 s ago: still inside the 30 s leeway, so the node closes it in about 3 s.
    short = token(secret.read_bytes(), "HS256", claims(number, ttl=-27))
    device = await connect(node.ws_url, token=short)
    client_id = await device.register(number)
    await device.activate(client_id)
    registration_id = await device.register_application(client_id, "com.example.mail")
    _, before = await api.send(registration_id, "before expiry")
    unacknowledged = await device.next_notification(TIMEOUT)
    assert unacknowledged["notificationID"] == before["notificationID"]
    assert await device.wait_closed(TIMEOUT) == 4003
    assert device.close_reason == "expired"
    _, after = await api.send(registration_id, "after expiry")
    fresh = await connect(node.ws_url, token=token(secret.read_bytes(), "HS256", claims(number)))
    await fresh.activate(client_id)
    received = [(await fresh.next_notification(TIMEOUT))["notificationID"] for _ in range(2)]
    assert received == [before["notificationID"], after["notificationID"]]
