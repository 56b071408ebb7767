"""The console's server side: static files, config.json, the fleet view and the
deviceNumber lookup, against real nodes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from yarl import URL

from gateway.client import AppServer
from tests.auth import api_key, hmac_secret, write
from tests.calls import ready_device
from tests.conftest import device_number, wait_for

STATIC = Path(__file__).resolve().parents[2] / "gateway" / "console" / "static"
ROOT = STATIC.parents[2]
TYPES = {
    "/console": ("index.html", "text/html"),
    "/console/device": ("device.html", "text/html"),
    "/console/aoi-client.js": ("aoi-client.js", "text/javascript"),
    "/console/console.js": ("console.js", "text/javascript"),
    "/console/style.css": ("style.css", "text/css"),
}


async def test_static_files_with_types_and_revalidation(node, http):
    for path, (name, content_type) in TYPES.items():
        async with http.get(node.url + path) as response:
            assert response.status == 200, path
            assert response.content_type == content_type and response.charset == "utf-8"
            assert await response.read() == (STATIC / name).read_bytes()
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            etag = response.headers["ETag"]
        async with http.get(node.url + path, headers={"If-None-Match": etag}) as again:
            assert again.status == 304 and await again.read() == b""
    async with http.head(node.url + "/console/aoi-client.js") as head:
        assert head.status == 200 and head.content_type == "text/javascript"


async def test_no_listing_no_traversal(node, http):
    async with http.get(node.url + "/console/", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "/console"
    for path in (
        "/console/nope.js",
        "/console/static",
        "/console/static/console.js",
        "/console/..%2fpyproject.toml",
        "/console/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/console/routes.py",
        "/console/__init__.py",
    ):
        async with http.get(node.url + path) as response:
            assert response.status == 404, path
    url = node.url + "/console/../../pyproject.toml"
    async with http.get(URL(url, encoded=True)) as response:
        assert response.status == 404
    async with http.post(node.url + "/console") as response:
        assert response.status == 405


async def test_config_json_and_console_off(start_node, http, tmp_path):
    plain = start_node()
    async with http.get(plain.url + "/console/config.json") as response:
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        assert await response.json() == {
            "apiKeys": False,
            "deviceAuth": False,
            "nodeID": plain.node_id,
        }
    key = api_key()
    keys = write(tmp_path / "keys", f"{key} *\n".encode())
    secret = write(tmp_path / "device.secret", hmac_secret())
    keyed = start_node(api_keys_file=keys, device_jwt_key=secret)
    async with http.get(keyed.url + "/console/config.json") as response:
        assert (await response.json())["apiKeys"] is (await response.json())["deviceAuth"] is True
    assert keyed.http_status("/v1/admin/nodes") == 401
    headers = {"Authorization": f"Bearer {key}"}
    async with http.get(keyed.url + "/v1/admin/nodes", headers=headers) as response:
        assert response.status == 200
    off = start_node(console="off")
    for path in ("/console", "/console/config.json", "/console/aoi-client.js"):
        assert off.http_status(path) == 404


async def test_client_by_device_number(node, connect, http):
    api = AppServer(node.url, http)
    number = device_number()
    device = await connect(node.ws_url)
    client_id = await device.register(number)
    await device.register_application(client_id, "com.example.mail")
    assert await api.client_by_device_number(number) == await api.client(client_id)
    status, body = await api.client_by_device_number(device_number())
    assert status == 404 and body["detail"].startswith("deviceNumber:")
    for query, field in (
        ("", "deviceNumber"),
        ("?deviceNumber=", "deviceNumber"),
        ("?deviceNumber=a%20b", "deviceNumber"),
        ("?deviceNumber=" + "x" * 65, "deviceNumber"),
        ("?deviceNumber=a&deviceNumber=b", "deviceNumber"),
        ("?clientID=x", "clientID"),
    ):
        status, body = await api.call("GET", "/v1/clients" + query)
        assert status == 400 and body["detail"].startswith(field + ":"), (query, body)
    await device.deregister(client_id)
    assert (await api.client_by_device_number(number))[0] == 404


async def test_admin_nodes_lists_the_fleet_with_figures(start_node, connect, http):
    first = start_node()
    second = start_node(drain_window=3, drain_grace=8)
    api = AppServer(first.url, http)
    device, _, registration_id = await ready_device(connect, second.ws_url)
    for _ in range(2):  # more connections, so that the drain takes a while
        await connect(second.ws_url)

    async def nodes() -> dict[str, dict[str, object]]:
        status, body = await api.nodes()
        assert status == 200
        listed = {entry["nodeID"]: entry for entry in body["nodes"]}
        for ours in {first.node_id, second.node_id} & listed.keys():  # refreshed every 2 s
            assert body["now"] - listed[ours]["updatedTime"] < 8_000
        return listed

    async def holds_the_channel() -> bool:
        entry = (await nodes()).get(second.node_id)
        return entry is not None and entry["connections"] == 3 and entry["channels"] == 1

    await wait_for(holds_the_channel, timeout=10)
    listed = await nodes()
    assert {first.node_id, second.node_id} <= listed.keys()
    assert listed[first.node_id]["ready"] is True and listed[first.node_id]["draining"] is False
    await AppServer(second.url, http).send(registration_id, "counted")
    note = await device.next_notification(timeout=5)
    await device.acknowledge(note["notificationID"])

    seen: set[str] = set()

    async def delivering() -> bool:
        rates = (await nodes())[second.node_id]["notificationsPerSecond"]
        seen.update(outcome for outcome, rate in rates.items() if rate > 0)
        return {"accepted", "sent", "delivered"} <= seen

    await wait_for(delivering, timeout=10)
    assert not seen & {"rejected", "expired", "cancelled"}
    second.signal(signal.SIGTERM)

    async def draining() -> bool:
        entry = (await nodes()).get(second.node_id)
        return entry is not None and entry["draining"] is True and entry["ready"] is False

    await wait_for(draining, timeout=10)
    assert second.wait(15) == 0
    assert second.node_id not in await nodes()  # a stopped node removes its record
    third = start_node(liveness_ttl=1)
    await wait_for(lambda: _listed(api, third.node_id), timeout=10)
    third.kill()  # no goodbye: the record runs out after its TTL
    await wait_for(lambda: _not_listed(api, third.node_id), timeout=10)


async def _listed(api: AppServer, node_id: str) -> bool:
    return any(entry["nodeID"] == node_id for entry in (await api.nodes())[1]["nodes"])


async def _not_listed(api: AppServer, node_id: str) -> bool:
    return not await _listed(api, node_id)


@pytest.mark.timeout(120)
def test_a_plain_install_ships_the_console(tmp_path):
    """``pip install .`` (from a copy of the tree, not to litter it) carries every static file."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "gateway", source / "gateway", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = tmp_path / "installed"
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    built = subprocess.run(
        [*command, str(source)], capture_output=True, text=True, timeout=100, check=False
    )
    assert built.returncode == 0, built.stderr
    for path in STATIC.iterdir():
        assert (
            target / "gateway" / "console" / "static" / path.name
        ).read_bytes() == path.read_bytes()
