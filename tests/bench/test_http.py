"""The load generator's lean HTTP client against a scripted server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.bench.http import HttpClient, HttpError, post_request

TIMEOUT = 5.0
OK = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"


async def scripted_server(answer: Callable[[int], list[bytes]]) -> tuple[asyncio.Server, str]:
    """A server that reads one request at a time and writes ``answer(n)`` piece by piece
    (an empty piece closes the connection); n counts requests across connections."""
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                served += 1
                for piece in answer(served):
                    if not piece:
                        writer.close()
                        return
                    writer.write(piece)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Callable[[int], list[bytes]]) -> str:
        server, url = await scripted_server(answer)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.close()


async def test_responses_split_anywhere_are_read_on_one_kept_connection(serve):
    url = await serve(lambda n: [OK[:10], OK[10:], b'{"n":', str(n).encode() + b"}"])
    client = HttpClient(url)
    frame = post_request(url, "/v1/notifications")
    answers = [await client.post(frame(b'{"a":1}'), TIMEOUT) for _ in range(3)]
    assert answers == [(202, b'{"n":1}'), (202, b'{"n":2}'), (202, b'{"n":3}')]
    client.close()


async def test_chunked_response_fails_the_request(serve):
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    url = await serve(lambda n: [chunked])
    client = HttpClient(url)
    with pytest.raises(HttpError, match="chunked"):
        await client.post(post_request(url, "/x")(b"{}"), TIMEOUT)


async def test_connection_closed_mid_response_fails_and_the_next_request_reconnects(serve):
    url = await serve(lambda n: [OK[:20], b""] if n == 1 else [OK, b'{"n":2}'])
    client = HttpClient(url)
    frame = post_request(url, "/x")
    with pytest.raises(HttpError, match="connection lost"):
        await client.post(frame(b"{}"), TIMEOUT)
    assert await client.post(frame(b"{}"), TIMEOUT) == (202, b'{"n":2}')
    client.close()


async def test_a_silent_server_times_out(serve):
    url = await serve(lambda n: [OK[:5]])
    client = HttpClient(url)
    with pytest.raises(TimeoutError):
        await client.post(post_request(url, "/x")(b"{}"), 0.2)
