"""Client frame headers followed in the raw byte stream, to refuse unmasked frames.

RFC 6455 5.1: a server MUST close the connection when a client frame is not
masked. aiohttp's reader unmasks a masked frame and reads an unmasked one as it
is, so the node follows the frame boundaries itself (headers only: a few
integer operations per frame) and closes with 1002 at the first unmasked one.
"""

from __future__ import annotations

_MASK_BIT = 0x80
_MASK_KEY = 4


class MaskCheck:
    """Tells whether every client frame in a byte stream, fed in pieces, is masked."""

    __slots__ = ("_head", "_skip")

    def __init__(self) -> None:
        self._skip = 0  # payload bytes of the current frame still to come
        self._head = b""  # an incomplete frame header carried to the next piece

    def feed(self, data: bytes) -> bool:
        """False once a frame without the mask bit is seen."""
        if not self._head and self._skip >= len(data):
            self._skip -= len(data)
            return True
        if self._head:
            data, self._head = self._head + data, b""
        position = self._skip
        size = len(data)
        while position < size:
            header = _header_size(data, position)
            if header is None:
                self._head = data[position:]
                self._skip = 0
                return True
            if not data[position + 1] & _MASK_BIT:
                return False
            position += header + _MASK_KEY + _payload_length(data, position, header)
        self._skip = position - size
        return True


def _header_size(data: bytes, position: int) -> int | None:
    """The header's size without the mask key, or None when it is not complete yet."""
    if len(data) - position < 2:
        return None
    length = data[position + 1] & 0x7F
    size = 4 if length == 126 else 10 if length == 127 else 2
    return size if len(data) - position >= size else None


def _payload_length(data: bytes, position: int, header: int) -> int:
    if header == 2:
        return data[position + 1] & 0x7F
    return int.from_bytes(data[position + 2 : position + header], "big")
