"""Hostile request bodies on a real node: deep, corrupt, compressed bombs, held, stalled."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib

from tests.calls import metric_values, sample
from tests.conftest import wait_for
from tests.raw import (
    closed_within,
    cpu_seconds,
    http_exchange,
    open_raw,
    post,
    read_response,
    rss_kib,
)

SEND = "/v1/notifications"
BATCH = "/v1/notifications:batch"
DEEP = 10_000


def _deep(opener: str = "[", closer: str = "]") -> str:
    return opener * DEEP + "1" + closer * DEEP


async def test_deep_json_is_400_on_every_route_and_depth(node, http) -> None:
    before = await metric_values(http, node.url, "aoi_http_requests_total")
    bodies = [
        (SEND, '{"registrationID": "r", "payload": "p", "extra": %s}' % _deep()),  # noqa: UP031
        (SEND, _deep('{"a":', "}")),
        (BATCH, '{"notifications": [%s]}' % _deep()),  # noqa: UP031
        (BATCH, '{"notifications": [{"registrationID": "r", "payload": "p", "x": %s}]}' % _deep()),  # noqa: UP031
    ]
    for path, body in bodies:
        status, answer = await http_exchange(node.port, post(path, body.encode()))
        if path == BATCH and status == 200:  # a bad entry is a 400 result of its own
            (result,) = answer["results"]
            status, answer = result["code"], result
        assert status == 400, answer
        assert "nested too deeply" in answer["detail"] or "expected" in answer["detail"]
    after = await metric_values(http, node.url, "aoi_http_requests_total")
    answered = sum(after.values()) - sum(before.values())
    assert answered >= len(bodies)
    assert not [line for line in node.log_lines() if line.get("level") == "error"]


async def test_corrupt_and_truncated_gzip_are_400(node) -> None:
    valid = gzip.compress(json.dumps({"registrationID": "r", "payload": "p"}).encode())
    for body, detail in [
        (b"\x1f\x8b\x08\x00not gzip at all", "invalid gzip"),
        (valid[: len(valid) // 2], "truncated gzip"),
        (valid + b"trailing", "after the end"),
    ]:
        status, answer = await http_exchange(node.port, post(SEND, body, "Content-Encoding: gzip"))
        assert status == 400 and detail in answer["detail"], answer
    deflated = zlib.compress(json.dumps({"registrationID": "r", "payload": "p"}).encode())
    status, answer = await http_exchange(
        node.port, post(SEND, deflated, "Content-Encoding: deflate")
    )
    assert status == 404, answer  # decoded, then the unknown registrationID
    status, answer = await http_exchange(node.port, post(SEND, b"{}", "Content-Encoding: br"))
    assert status == 415 and "Content-Encoding" in answer["detail"]


async def test_gzip_bomb_stops_at_the_cap(start_node, http) -> None:
    node = start_node(max_body_bytes=1 << 20)
    bomb = gzip.compress(b" " * (256 << 20), 9)  # 256 MiB of spaces in ~250 KiB
    rss, cpu = rss_kib(node.pid), cpu_seconds(node.pid)
    started = time.monotonic()
    status, answer = await http_exchange(node.port, post(SEND, bomb, "Content-Encoding: gzip"))
    assert status == 413 and "larger than 1048576" in answer["detail"]
    assert time.monotonic() - started < 2
    assert cpu_seconds(node.pid) - cpu < 1.0
    assert rss_kib(node.pid) - rss < 32 << 10
    async with http.get(node.url + "/healthz") as response:
        assert response.status == 200


async def test_declared_length_over_the_cap_is_refused_before_reading(start_node) -> None:
    node = start_node(max_body_bytes=1 << 20)
    reader, writer = await open_raw(node.port)
    writer.write(f"POST {SEND} HTTP/1.1\r\nHost: x\r\nContent-Length: {1 << 30}\r\n\r\n".encode())
    status, answer = await read_response(reader)  # answered without a byte of the body
    assert status == 413, answer
    writer.close()


async def test_held_bodies_are_bounded_by_the_memory_budget(start_node, http) -> None:
    node = start_node(max_body_bytes=4 << 20, max_body_memory=8 << 20, body_timeout=3)
    rss = rss_kib(node.pid)
    held = []
    for _ in range(12):  # each would hold 3.5 of 4 MiB: 42 MiB without the budget
        reader, writer = await open_raw(node.port)
        writer.write(
            f"POST {SEND} HTTP/1.1\r\nHost: x\r\nContent-Length: {4 << 20}\r\n\r\n".encode()
        )
        writer.write(b"x" * (7 << 19))
        held.append((reader, writer))
    await asyncio.gather(*(writer.drain() for _, writer in held))
    codes = [status for status, _ in await asyncio.gather(*(read_response(r, 8) for r, _ in held))]
    # The budget refuses some at once (503), the rest time out (408): none is kept.
    assert 503 in codes and set(codes) <= {503, 408}, codes
    assert rss_kib(node.pid) - rss < 24 << 10
    for _, writer in held:
        writer.close()
    async with http.get(node.url + "/readyz") as response:
        assert response.status == 200


async def test_stalled_and_endless_bodies_are_cut_off_in_time(start_node, http) -> None:
    node = start_node(body_timeout=1)
    started = time.monotonic()
    stalled = http_exchange(node.port, post(SEND, b'{"registrationID": "r", "pay')[:-5], timeout=4)
    endless_reader, endless = await open_raw(node.port)
    endless.write(f"POST {SEND} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())

    async def trickle() -> None:
        for _ in range(40):
            endless.write(b"1\r\n \r\n")
            await asyncio.sleep(0.1)

    dripping = asyncio.ensure_future(trickle())
    (status, answer), (endless_status, _) = await asyncio.gather(
        stalled, read_response(endless_reader, 4)
    )
    assert status == 408 and "body" in answer["detail"]
    assert endless_status == 408
    assert time.monotonic() - started < 3
    dripping.cancel()
    endless.close()
    values = await metric_values(http, node.url, "aoi_http_requests_total")
    assert sample(values, route=SEND, code="408") == 2


async def test_a_body_error_ends_the_connection(node) -> None:
    reader, writer = await open_raw(node.port)
    writer.write(post(SEND, b"{}", "Content-Encoding: br"))
    status, _ = await read_response(reader)
    assert status == 415
    assert await closed_within(reader, 3)
    writer.close()


async def test_refusals_are_counted(node, http) -> None:
    await wait_for(lambda: node.http_status("/healthz") == 200)
    await http_exchange(node.port, post(SEND, b"{}", "Content-Encoding: br"))
    values = await metric_values(http, node.url, "aoi_http_requests_total")
    assert sample(values, route=SEND, code="415") == 1
