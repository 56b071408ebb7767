"""Reading a request body within the node's limits: size, time, encoding and memory.

A body is read chunk by chunk from the socket (aiohttp's own decompression is
off, see node/listener.py), so nothing is held before it is counted:

- a declared ``Content-Length`` over ``--max-body-bytes`` is refused (413)
  before a byte is read;
- ``gzip`` and ``deflate`` bodies are inflated here, at most 64 KiB of output a
  step, and inflation stops at ``--max-body-bytes`` of output (413); a corrupt
  stream is 400; any other ``Content-Encoding`` is 415;
- every byte held (as read, and as inflated) is taken from one budget per node,
  ``--max-body-memory``; when it is spent the request is answered 503 at once;
- the whole body must arrive within ``--body-timeout`` (408).
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from gateway.protocol.errors import (
    BadRequest,
    PayloadTooLarge,
    RequestTimeout,
    Unavailable,
    UnsupportedMediaType,
)

INFLATE_STEP = 64 << 10
_GZIP, _ZLIB, _RAW_DEFLATE = 31, 15, -15
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class BodyBudget:
    """Request-body bytes the node holds at once, over all requests."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, amount: int) -> bool:
        if self.held + amount > self.limit:
            return False
        self.held += amount
        return True

    def give(self, amount: int) -> None:
        self.held -= amount


@dataclass
class BodyLimits:
    """The limits every body is read within (one per node)."""

    max_bytes: int
    timeout: float
    budget: BodyBudget = field(default_factory=lambda: BodyBudget(256 << 20))


class Body:
    """One body being read: its bytes, and what it took from the budget (given back by
    ``release``)."""

    __slots__ = ("budget", "data", "limits", "taken")

    def __init__(self, limits: BodyLimits) -> None:
        self.limits = limits
        self.budget = limits.budget
        self.data = bytearray()
        self.taken = 0

    def hold(self, amount: int) -> None:
        if not self.budget.take(amount):
            raise Unavailable("body: the node holds its maximum of request bodies; retry")
        self.taken += amount

    def add(self, piece: bytes) -> None:
        if len(self.data) + len(piece) > self.limits.max_bytes:
            raise PayloadTooLarge(f"body: larger than {self.limits.max_bytes} bytes")
        self.hold(len(piece))
        self.data += piece

    def release(self) -> None:
        self.budget.give(self.taken)
        self.taken = 0


class _Inflater:
    """Incremental gzip/deflate decoding, a bounded step at a time."""

    __slots__ = ("_coding", "_stream")

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._stream: zlib._Decompress | None = None

    def _start(self, first: bytes) -> zlib._Decompress:
        if self._coding == "gzip":
            return zlib.decompressobj(_GZIP)
        # "deflate" is the zlib format (RFC 9110); some senders send raw deflate.
        return zlib.decompressobj(_ZLIB if first[0] & 0x0F == 8 else _RAW_DEFLATE)

    async def feed(self, chunk: bytes, body: Body) -> None:
        if self._stream is None:
            self._stream = self._start(chunk)
        stream = self._stream
        pending = chunk
        while pending:
            if stream.eof:
                raise BadRequest(f"body: data after the end of the {self._coding} stream")
            try:
                piece = stream.decompress(pending, INFLATE_STEP)
            except zlib.error:
                raise BadRequest(f"body: invalid {self._coding} data") from None
            if stream.unused_data:
                raise BadRequest(f"body: data after the end of the {self._coding} stream")
            body.add(piece)
            pending = stream.unconsumed_tail
            if pending:
                await asyncio.sleep(0)  # a large body never holds up other requests

    def finish(self) -> None:
        if self._stream is not None and not self._stream.eof:
            raise BadRequest(f"body: truncated {self._coding} data")


def _inflater(request: web.Request) -> _Inflater | None:
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding in ("", "identity"):
        return None
    if coding not in _CODINGS:
        raise UnsupportedMediaType("Content-Encoding: only gzip, deflate or identity")
    return _Inflater(_CODINGS[coding])


async def _fill(request: web.Request, body: Body, inflater: _Inflater | None) -> None:
    content = request.content
    while chunk := await content.readany():
        if inflater is None:
            body.add(chunk)
            continue
        body.hold(len(chunk))  # the compressed chunk is held while it inflates
        try:
            await inflater.feed(chunk, body)
        finally:
            body.budget.give(len(chunk))
            body.taken -= len(chunk)
    if inflater is not None:
        inflater.finish()


async def read_body(request: web.Request, limits: BodyLimits) -> Body:
    """The body of ``request``, held and counted against the budget until ``release``."""
    inflater = _inflater(request)
    declared = request.content_length
    if inflater is None and declared is not None and declared > limits.max_bytes:
        raise PayloadTooLarge(f"body: larger than {limits.max_bytes} bytes")
    body = Body(limits)
    try:
        if inflater is None and request.content.is_eof():
            body.add(request.content.read_nowait())  # all in already: nothing to wait for
        else:
            await _fill_in_time(request, body, inflater)
    except BaseException:
        body.release()
        raise
    return body


async def _fill_in_time(request: web.Request, body: Body, inflater: _Inflater | None) -> None:
    limits = body.limits
    try:
        async with asyncio.timeout(limits.timeout):
            await _fill(request, body, inflater)
    except TimeoutError:
        raise RequestTimeout(f"body: not received within {limits.timeout:g} s") from None
    except RequestPayloadError as error:  # bad chunked framing, short Content-Length
        raise BadRequest(f"body: malformed ({error})") from None
    except ConnectionError:
        raise BadRequest("body: incomplete, the connection was lost") from None
