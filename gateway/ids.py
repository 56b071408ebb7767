"""Identifiers the gateway assigns.

Every ID of one client starts with the client's *tag*, 11 random characters that
pick the Redis hash slot of all its keys, followed by 22 characters (128 bits)
of secret randomness. A registrationID or notificationID reveals the tag but
never the clientID's secret part.
"""

from __future__ import annotations

import re
import secrets

TAG_LENGTH = 11
ID_LENGTH = TAG_LENGTH + 22
_ID_PATTERN = re.compile(f"[A-Za-z0-9_-]{{{ID_LENGTH}}}")


def new_tag() -> str:
    """A fresh client tag (66 random bits)."""
    return secrets.token_urlsafe(8)


def new_id(tag: str) -> str:
    """A fresh ID under ``tag`` carrying 128 secret random bits."""
    return tag + secrets.token_urlsafe(16)


def tag_of(identifier: str) -> str | None:
    """The client tag of a gateway-issued ID, or None if it cannot be one."""
    if _ID_PATTERN.fullmatch(identifier) is None:
        return None
    return identifier[:TAG_LENGTH]


def new_connection_id() -> str:
    """A short ID naming one websocket connection within a node."""
    return secrets.token_urlsafe(9)
