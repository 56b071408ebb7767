"""Connections on a real node: counted and timed from accept, refused fast when full."""

from __future__ import annotations

import asyncio
import shutil
import time

import aiohttp
import pytest

from gateway.client import Device
from tests.calls import metric_values, sample
from tests.conftest import device_number, wait_for
from tests.raw import closed_within, http_exchange, open_raw, read_response

FILE_LIMIT = 200  # the main port then takes 100 connections (half, under 2 x the reserve)


async def test_idle_and_slow_connections_are_closed_in_time(start_node, http) -> None:
    node = start_node(header_timeout=1, keepalive_timeout=2)
    started = time.monotonic()
    idle = [await open_raw(node.port) for _ in range(50)]  # send nothing at all
    slow_reader, slow = await open_raw(node.port)

    async def drip() -> None:  # one header byte a tenth of a second: a slow loris
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100:
            slow.write(bytes([byte]))
            await asyncio.sleep(0.1)

    dripping = asyncio.ensure_future(drip())
    results = await asyncio.gather(
        *(closed_within(reader, 4) for reader, _ in idle), closed_within(slow_reader, 4)
    )
    assert all(results)
    assert time.monotonic() - started < 3.5
    dripping.cancel()

    keepalive_reader, keepalive = await open_raw(node.port)
    keepalive.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(keepalive_reader))[0] == 200
    idle_since = time.monotonic()
    assert await closed_within(keepalive_reader, 5)
    assert 1.5 < time.monotonic() - idle_since < 4  # the keep-alive timeout, not the header one
    values = await metric_values(http, node.url, "aoi_connections_closed_total")
    assert sample(values, reason="header_timeout") >= 51
    for _, writer in [*idle, (slow_reader, slow), (keepalive_reader, keepalive)]:
        writer.close()


async def test_malformed_requests_are_answered_and_counted_quietly(node, http) -> None:
    for request, code in [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", 400),
    ]:
        status, answer = await http_exchange(node.port, request)
        assert status == code and answer["detail"].startswith("request: "), answer
    values = await metric_values(http, node.url, "aoi_http_requests_total")
    assert sample(values, route="invalid", code="400") == 2
    assert sample(values, route="invalid", code="431") == 1
    assert not [line for line in node.log_lines() if line.get("level") == "error"]


async def test_a_head_sent_in_pieces_is_bounded(start_node) -> None:
    node = start_node(max_header_bytes=2048)
    reader, writer = await open_raw(node.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    for _ in range(20):  # 20 headers of 200 bytes, each in its own write
        writer.write(b"X-Pad: " + b"p" * 200 + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)
    status, answer = await read_response(reader)
    assert status == 431, answer
    writer.close()


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit")
async def test_operations_port_answers_when_the_main_port_is_full(start_node, http) -> None:
    prefix = ("prlimit", f"--nofile={FILE_LIMIT}:{FILE_LIMIT}", "--")
    node = start_node(prefix=prefix, ops_port=0, header_timeout=30)
    held = []
    refused = 0
    for _ in range(FILE_LIMIT):
        reader, writer = await open_raw(node.port)
        held.append(writer)
        try:
            status, _ = await read_response(reader, 0.2)
        except TimeoutError:
            continue  # held open by the node
        assert status == 503
        refused += 1
        if refused >= 5:
            break
    assert refused >= 5 and len(held) < FILE_LIMIT
    for path in ("/healthz", "/readyz", "/metrics"):
        async with http.get(node.ops_url + path) as response:
            assert response.status == 200, path
    values = await metric_values(http, node.ops_url, "aoi_connections_refused_total")
    assert sample(values, reason="connections") >= 5
    assert node.process is not None and node.process.poll() is None
    for writer in held:
        writer.close()
    await wait_for(lambda: node.http_status("/healthz") == 200, 5)


async def test_new_connections_limited_per_address(start_node, http) -> None:
    node = start_node(address_connect_rate=3)
    statuses = []
    for _ in range(8):
        reader, writer = await open_raw(node.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        statuses.append((await read_response(reader))[0])
        writer.close()
    # The start-up readiness polls spent some of the burst of 3.
    assert 200 in statuses and 503 in statuses and statuses.count(200) <= 3


async def test_forwarded_address_counts_behind_a_trusted_proxy(start_node, http) -> None:
    node = start_node(address_connect_rate=2, trusted_proxies="127.0.0.0/8")

    async def upgrade(client: str) -> int:
        headers = {"X-Forwarded-For": f"203.0.113.9, {client}"}
        try:
            device = await Device.connect(node.ws_url, session=http, headers=headers)
        except aiohttp.WSServerHandshakeError as error:
            return error.status
        await device.close()
        return 101

    first = [await upgrade("198.51.100.1") for _ in range(4)]
    other = await upgrade("198.51.100.2")
    assert first[:2] == [101, 101] and 503 in first[2:]
    assert other == 101  # another client behind the same proxy is not held back


async def test_registrations_limited_per_address(start_node, connect) -> None:
    node = start_node(address_register_rate=2)
    device = await connect(node.ws_url)
    codes = []
    for _ in range(5):
        response = await device.request(
            {"messageType": "aoiClientRegistrationReq", "deviceNumber": device_number()}
        )
        codes.append(response["code"])
    assert codes[:2] == [200, 200] and 429 in codes
