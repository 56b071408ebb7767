"""Seeded fuzzing of the HTTP API: methods, paths, headers, bodies, encodings; never a 500."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import zlib

import pytest

from tests.calls import metric_values
from tests.raw import closed_within, open_raw, read_response

SEED = 4321
REQUEST_COUNT = 400
FUZZ_DEADLINE = 60.0
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO", "get", "P0ST"]
PATHS = [
    "/v1/notifications",
    "/v1/notifications:batch",
    "/v1/notifications/AAAAAAAAAAABBBBBBBBBBBBBBBBBBBBBBBB",
    "/v1/notifications/%00%ff",
    "/v1/clients/x",
    "/v1/clients/" + "A" * 300,
    "/v1/",
    "/v1",
    "/healthz",
    "/readyz?x=1",
    "/ws",
    "/",
    "/%2e%2e/%2e%2e/etc/passwd",
    "//v1//notifications",
    "/v1/notifications?" + "q=" * 500,
]
GOOD = {"registrationID": "AAAAAAAAAAABBBBBBBBBBBBBBBBBBBBBB", "payload": "p"}


def _bodies(rng: random.Random) -> bytes:
    makers = [
        lambda: json.dumps(GOOD).encode(),
        lambda: json.dumps({**GOOD, "ttl": rng.choice([-1, 1.5, "60", None, 10**30])}).encode(),
        lambda: json.dumps({"notifications": [GOOD] * rng.randrange(0, 600)}).encode(),
        lambda: ("[" * rng.choice([100, 5000, 50000]) + "]" * 10).encode(),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(0, 500))),
        lambda: b'{"registrationID": "\\ud800", "payload": 1e999}',
        lambda: json.dumps({**GOOD, "payload": "x" * rng.choice([4096, 4097, 20000])}).encode(),
        lambda: b"",
    ]
    return rng.choice(makers)()


def _encoded(rng: random.Random, body: bytes) -> tuple[bytes, list[str]]:
    kind = rng.choice(["none", "gzip", "deflate", "broken-gzip", "br", "gzip, gzip", "none"])
    if kind == "gzip":
        return gzip.compress(body, mtime=0), ["Content-Encoding: gzip"]
    if kind == "deflate":
        return zlib.compress(body), ["Content-Encoding: deflate"]
    if kind == "broken-gzip":
        return gzip.compress(body, mtime=0)[: rng.randrange(1, 20)], ["Content-Encoding: gzip"]
    if kind != "none":
        return body, [f"Content-Encoding: {kind}"]
    return body, []


def _headers(rng: random.Random, body: bytes) -> list[str]:
    framing = rng.choice(["length", "length", "short", "chunked", "bad-length", "none"])
    headers = {
        "length": [f"Content-Length: {len(body)}"],
        "short": [f"Content-Length: {len(body) + 10}"],
        "chunked": ["Transfer-Encoding: chunked"],
        "bad-length": [
            rng.choice(["Content-Length: -1", "Content-Length: x", "Content-Length: 1, 2"])
        ],
        "none": [],
    }[framing]
    headers += rng.sample(
        [
            "Content-Type: text/plain",
            "Expect: 100-continue",
            "X-Forwarded-For: 1.2.3.4",
            "Connection: upgrade",
            "Upgrade: websocket",
            "Accept: text/html",
            "X-Long: " + "a" * 9000,
        ],
        rng.randrange(0, 3),
    )
    return headers


def fuzz_requests() -> list[bytes]:
    rng = random.Random(SEED)
    requests = []
    for _ in range(REQUEST_COUNT):
        body, headers = _encoded(rng, _bodies(rng))
        headers += _headers(rng, body)
        if "Transfer-Encoding: chunked" in headers:
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        head = f"{rng.choice(METHODS)} {rng.choice(PATHS)} HTTP/1.1\r\nHost: x\r\n"
        head += "".join(f"{header}\r\n" for header in headers) + "Connection: close\r\n\r\n"
        requests.append(head.encode() + body)
    return requests


def test_generator_is_deterministic_and_bounded() -> None:
    requests = fuzz_requests()
    assert requests == fuzz_requests()
    assert len(requests) == REQUEST_COUNT
    assert max(len(r) for r in requests) < 1 << 20


async def _exchange(port: int, request: bytes) -> int | None:
    """The status answered to ``request``, or None when the node just closed (allowed only
    where no answer is due: a body that never completes)."""
    reader, writer = await open_raw(port)
    try:
        writer.write(request)
        try:
            status, _ = await read_response(reader, 5, head_only=request.startswith(b"HEAD "))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return status
    finally:
        writer.close()


@pytest.mark.timeout(90)
async def test_fuzzed_requests_never_500(start_node, http) -> None:
    node = start_node(body_timeout=1, header_timeout=2, max_body_bytes=1 << 20)
    statuses: list[int | None] = []
    async with asyncio.timeout(FUZZ_DEADLINE):
        requests = fuzz_requests()
        for start in range(0, len(requests), 20):
            statuses += await asyncio.gather(
                *(_exchange(node.port, r) for r in requests[start : start + 20])
            )
    answered = [s for s in statuses if s is not None]
    print(f"http fuzz: {len(answered)} answered, codes {sorted(set(answered))}")
    assert len(answered) >= REQUEST_COUNT * 3 // 4
    assert all(s < 500 or s == 503 for s in answered), sorted(set(answered))
    assert node.process is not None and node.process.poll() is None
    assert not [line for line in node.log_lines() if line.get("level") in ("error", "critical")]
    assert node.http_status("/healthz") == 200 and node.http_status("/readyz") == 200
    values = await metric_values(http, node.url, "aoi_http_requests_total")
    assert not [labels for labels in values if 'code="500"' in labels]
    reader, writer = await open_raw(node.port)  # an idle connection still times out
    assert await closed_within(reader, 4)
    writer.close()
