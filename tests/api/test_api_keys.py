"""API keys (contract 2.4): plain and sha256: entries, 401 with WWW-Authenticate, scope on
every route and on each batch item, reload on change and on SIGHUP without dropping
connections, a broken file at start (exit 2) and later (old keys kept, line number logged)."""

from __future__ import annotations

import signal

import pytest

from gateway.client import AppServer
from tests.auth import api_key, sha256_entry, write
from tests.calls import TIMEOUT, increase, metric_values, ready_device, status_of
from tests.conftest import wait_for

MAIL, CHAT = "com.example.mail", "com.example.chat"


@pytest.fixture
def keys(tmp_path):
    """An admin key (plain), a mail-only key (as its sha256: digest), a chat-and-more key."""
    admin, mail, chat = api_key(), api_key(), api_key()
    path = tmp_path / "api-keys"
    lines = [
        "# application servers",
        f"{admin} *",
        "",
        f"  {sha256_entry(mail)}\tcom.example.mail  ",
        f"{chat} com.example.chat,com.example.news",
    ]
    write(path, "\n".join(lines).encode() + b"\n")
    return {"path": path, "admin": admin, "mail": mail, "chat": chat}


@pytest.fixture
def keyed(start_node, keys, http):
    node = start_node(api_keys_file=keys["path"])
    return node, {
        name: AppServer(node.url, http, api_key=keys[name]) for name in keys if name != "path"
    }


async def two_apps(connect, node):
    """A device with a mail and a chat application, channel not active."""
    device, client_id, mail_reg = await ready_device(connect, node.ws_url, activate=False)
    chat_reg = await device.register_application(client_id, CHAT)
    return device, client_id, mail_reg, chat_reg


async def test_missing_malformed_and_unknown_keys_get_401(keyed, http):
    node, _ = keyed
    before = await metric_values(http, node.url, "aoi_auth_failures_total")
    cases = {
        "missing": [{}],
        "invalid": [
            {"Authorization": "Basic dXNlcjpwdw=="},
            {"Authorization": "Bearer"},
            {"Authorization": f"bearer {api_key()}"},
            {"Authorization": f"Bearer {api_key()} x"},
            {"Authorization": f"Bearer {api_key()}"},
            {"Authorization": f"Bearer {sha256_entry('some-key-of-16-chars')}"},
        ],
    }
    routes = [
        ("POST", "/v1/notifications"),
        ("POST", "/v1/notifications:batch"),
        ("GET", "/v1/notifications/" + "A" * 33),
        ("DELETE", "/v1/notifications/" + "A" * 33),
        ("GET", "/v1/clients/" + "A" * 33),
        ("GET", "/v1/no-such-route"),
        ("PUT", "/v1/notifications"),
    ]
    for method, path in routes:
        for headers in cases["missing"] + cases["invalid"]:
            async with http.request(method, node.url + path, headers=headers, json={}) as answer:
                assert answer.status == 401, (method, path, headers)
                assert answer.headers["WWW-Authenticate"] == "Bearer"
                body = await answer.json()
            assert body["code"] == 401 and body["desc"] == "Unauthorized"
            assert "Authorization" in body["detail"]
    after = await metric_values(http, node.url, "aoi_auth_failures_total")
    for reason, headers in cases.items():
        assert increase(before, after, kind="api", reason=reason) == len(headers) * len(routes)
    assert node.http_status("/healthz") == 200 and node.http_status("/metrics") == 200


async def test_scope_on_send_batch_status_cancel_and_introspection(keyed, connect, http):
    node, api = keyed
    device, client_id, mail_reg, chat_reg = await two_apps(connect, node)
    before = await metric_values(http, node.url, "aoi_auth_failures_total")

    status, mail_note = await api["mail"].send(mail_reg, "for mail")  # key given as sha256:
    assert status == 202
    status, body = await api["mail"].send(chat_reg, "not yours")
    assert status == 403 and body["desc"] == "Forbidden" and "registrationID" in body["detail"]
    assert (await api["mail"].send("A" * 33, "unknown"))[0] == 404
    status, chat_note = await api["chat"].send(chat_reg, "for chat")
    assert status == 202

    status, body = await api["chat"].send_batch(
        [
            {"registrationID": mail_reg, "payload": "a"},
            {"registrationID": chat_reg, "payload": "b"},
            {"registrationID": "A" * 33, "payload": "c"},
        ]
    )
    assert status == 200
    assert [r.get("status") or r["code"] for r in body["results"]] == [403, "queued", 404]

    assert (await api["mail"].status(chat_note["notificationID"]))[0] == 403
    assert (await api["chat"].status(chat_note["notificationID"]))[0] == 200
    assert (await api["chat"].cancel(mail_note["notificationID"]))[0] == 403
    assert await status_of(api["admin"], mail_note["notificationID"]) == "queued"
    assert (await api["mail"].cancel(mail_note["notificationID"]))[0] == 204
    assert (await api["mail"].status("A" * 33))[0] == 404

    for scoped in ("mail", "chat"):
        status, body = await api[scoped].client(client_id)
        assert status == 403 and "admin" in body["detail"]
    status, info = await api["admin"].client(client_id)
    assert status == 200 and info["pendingNotifications"] == 2  # chat's two; mail's cancelled
    after = await metric_values(http, node.url, "aoi_auth_failures_total")
    assert increase(before, after, kind="api", reason="scope") == 6
    await device.activate(client_id)
    payloads = {(await device.next_notification(TIMEOUT))["payload"] for _ in range(2)}
    assert payloads == {"for chat", "b"}


async def test_reload_on_change_and_on_sighup_keeps_connections(keyed, keys, connect, http):
    node, api = keyed
    device, client_id, registration_id = await ready_device(connect, node.ws_url)
    newcomer = api_key()
    newcomer_api = AppServer(node.url, http, api_key=newcomer)
    assert (await newcomer_api.send(registration_id, "too early"))[0] == 401

    # Rewritten in place: the node's poll sees it; the removed chat key stops working.
    write(keys["path"], f"{keys['admin']} *\n{newcomer} {MAIL}\n".encode())

    async def newcomer_accepted() -> bool:
        return (await newcomer_api.send(registration_id, "hello"))[0] == 202

    await wait_for(newcomer_accepted, timeout=5)
    assert (await api["chat"].status("A" * 33))[0] == 401
    assert (await device.next_notification(TIMEOUT))["payload"] == "hello"

    # A broken file later: the keys in force stay; the error names the line, never its text.
    leaked = api_key()
    write(keys["path"], f"{keys['admin']} *\n{leaked} has spaces in scope\n".encode())

    def errors() -> list[dict]:
        return [line for line in node.log_lines() if line["level"] == "error"]

    await wait_for(lambda: len(errors()) == 1, timeout=5)  # seen by the poll
    node.signal(signal.SIGHUP)  # read again although the file did not change since
    await wait_for(lambda: len(errors()) == 2, TIMEOUT)
    assert all(line["line"] == 2 and "line 2" in line["message"] for line in errors())
    assert leaked not in node.log_path.read_text()
    assert (await newcomer_api.send(registration_id, "still valid"))[0] == 202
    assert (await AppServer(node.url, http, api_key=leaked).send(registration_id, "x"))[0] == 401

    write(keys["path"], f"{keys['admin']} *\n".encode())
    node.signal(signal.SIGHUP)

    async def newcomer_refused() -> bool:
        return (await newcomer_api.send(registration_id, "after removal"))[0] == 401

    await wait_for(newcomer_refused, TIMEOUT)
    assert not device.closed.is_set()
    status, info = await api["admin"].client(client_id)
    assert status == 200 and info["channel"]["active"] is True
