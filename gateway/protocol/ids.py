"""Identifiers the gateway assigns.

Every ID of one client starts with the client's *tag*, 11 random characters that
pick the Redis hash slot of all its keys, followed by 22 characters (128 bits)
of secret randomness. A registrationID or notificationID reveals the tag but
never the clientID's secret part.
"""

from __future__ import annotations

import base64
import os
import re

TAG_LENGTH = 11
ID_LENGTH = TAG_LENGTH + 22
_ID_PATTERN = re.compile(f"[A-Za-z0-9_-]{{{ID_LENGTH}}}")
_ENTROPY_CHUNK = 4096


class _Entropy:
    """Bytes from the OS CSPRNG, read in chunks: one system call per ~250 IDs.

    Every byte is used once; the process does not fork after start.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0

    def token(self, size: int) -> str:
        """``size`` random bytes as URL-safe base64 without padding."""
        if self._offset + size > len(self._buffer):
            self._buffer = os.urandom(_ENTROPY_CHUNK)
            self._offset = 0
        chunk = self._buffer[self._offset : self._offset + size]
        self._offset += size
        return base64.urlsafe_b64encode(chunk).rstrip(b"=").decode()


_entropy = _Entropy()


def new_tag() -> str:
    """A fresh client tag (about 66 random bits), never starting with ``-``.

    Every ID starts with its tag, and an ID starting with ``-`` reads as an option
    on command lines (``aoi-ctl send --registration-id -x...``).
    """
    while True:
        tag = _entropy.token(8)
        if not tag.startswith("-"):
            return tag


def new_id(tag: str) -> str:
    """A fresh ID under ``tag`` carrying 128 secret random bits."""
    return tag + _entropy.token(16)


def tag_of(identifier: str) -> str | None:
    """The client tag of a gateway-issued ID, or None if it cannot be one."""
    if _ID_PATTERN.fullmatch(identifier) is None:
        return None
    return identifier[:TAG_LENGTH]


def new_connection_id() -> str:
    """A short ID naming one websocket connection within a node."""
    return _entropy.token(9)
