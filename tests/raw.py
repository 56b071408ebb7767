"""Raw sockets for the hostile-input tests: HTTP requests and websocket frames byte by byte."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

TIMEOUT = 5.0


async def open_raw(
    port: int, receive_buffer: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to the node; ``receive_buffer`` shrinks its socket's buffer."""
    if receive_buffer is None:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.wait_for(
        asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), TIMEOUT
    )
    return await asyncio.open_connection(sock=sock, limit=receive_buffer)


async def read_response(
    reader: asyncio.StreamReader, timeout: float = TIMEOUT, head_only: bool = False
) -> tuple[int, Any]:
    """The status and JSON body (None if not JSON) of one HTTP response."""
    async with asyncio.timeout(timeout):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        size = 0 if head_only else int(headers.get("content-length", "0"))
        body = await reader.readexactly(size)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


async def http_exchange(port: int, request: bytes, timeout: float = TIMEOUT) -> tuple[int, Any]:
    """Send raw bytes, read one response, close."""
    reader, writer = await open_raw(port)
    try:
        writer.write(request)
        await writer.drain()
        return await read_response(reader, timeout)
    finally:
        writer.close()


def post(path: str, body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{header}\r\n" for header in headers)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


async def closed_within(reader: asyncio.StreamReader, timeout: float) -> bool:
    """True when the peer closes (EOF or reset) within ``timeout``, reading what comes."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


def frame(payload: bytes, opcode: int = 0x1, masked: bool = True) -> bytes:
    """One client websocket frame."""
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, length)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def ws_open(
    port: int, receive_buffer: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw websocket connection to ``/ws``, past the 101."""
    reader, writer = await open_raw(port, receive_buffer)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def read_frame(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> tuple[int, bytes]:
    """The opcode and payload of the next server frame."""
    async with asyncio.timeout(timeout):
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        return first & 0x0F, await reader.readexactly(length)


async def close_code(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> int:
    """Read frames until the server's close frame; its code."""
    while True:
        opcode, payload = await read_frame(reader, timeout)
        if opcode == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ws_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]
) -> dict[str, Any]:
    """One AOI-1 request over a raw websocket, and its answer."""
    writer.write(frame(json.dumps(request).encode()))
    opcode, payload = await read_frame(reader)
    assert opcode == 0x1, (opcode, payload)
    answer: dict[str, Any] = json.loads(payload)
    return answer
