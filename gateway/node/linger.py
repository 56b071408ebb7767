"""The transport aiohttp writes through: closes gracefully, and shows whether writes progress.

Closing a socket whose peer is still sending makes the kernel answer with a TCP
reset, and a reset makes the peer drop what it had not read yet: the 1009 close
frame, the 413 answer. So ``close`` here sends what is queued, then a FIN
(``write_eof``), keeps reading and discarding what the peer still sends, and
closes once the peer closes too, or at the linger deadline (``Watch``).

Every write is counted, so the watch can tell a slow peer from one that takes
nothing at all (``--write-timeout``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

LINGER_SECONDS = 2.0


class Watch(Protocol):
    """Who times the connection's writes and its lingering close (the listener)."""

    def backlogged(self, transport: Linger) -> None: ...

    def lingering(self, transport: Linger) -> None: ...


class Linger(asyncio.Transport):
    """A socket transport seen through a graceful close and a write counter."""

    __slots__ = ("_closing", "_real", "_watch", "written")

    def __init__(self, real: asyncio.Transport, watch: Watch) -> None:
        self._real = real
        self._watch = watch
        self._closing = False
        self.written = 0  # bytes handed to the socket's buffer, ever

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def sent(self) -> int:
        """Bytes that have left the buffer for the kernel."""
        return self.written - self._real.get_write_buffer_size()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        real = self._real
        real.write(data)
        self.written += len(data)
        if real.get_write_buffer_size():
            self._watch.backlogged(self)

    def writelines(self, chunks: Any) -> None:
        """All of ``chunks`` with one write (one system call where the socket takes it)."""
        if self._closing:
            return
        chunks = list(chunks)
        real = self._real
        real.writelines(chunks)
        self.written += sum(len(chunk) for chunk in chunks)
        if real.get_write_buffer_size():
            self._watch.backlogged(self)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        real = self._real
        if real.is_closing():
            return
        try:
            real.write_eof()
            real.resume_reading()
        except (OSError, RuntimeError, NotImplementedError):
            real.close()
            return
        self._watch.lingering(self)

    def finish(self) -> None:
        """End a lingering close now."""
        self._real.close()

    def drop(self) -> None:
        """Close without lingering (what is queued is still sent)."""
        self._closing = True
        self._real.close()

    def abort(self) -> None:
        self._closing = True
        self._real.abort()

    def is_closing(self) -> bool:
        return self._closing or self._real.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._real.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._real.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        if not self._closing:  # a lingering close reads until the peer is done
            self._real.pause_reading()

    def resume_reading(self) -> None:
        self._real.resume_reading()

    def is_reading(self) -> bool:
        return self._real.is_reading()

    def can_write_eof(self) -> bool:
        return self._real.can_write_eof()

    def write_eof(self) -> None:
        self._real.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._real.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._real.get_protocol()
