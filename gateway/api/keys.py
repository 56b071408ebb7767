"""API keys of application servers (contract section 2.4): the keys file, and the check.

The file holds one key a line, ``<key> <scope>``: the key itself or ``sha256:`` and
its digest, then ``*`` (every application, and introspection) or applicationIDs
separated by commas. Only SHA-256 digests are kept in memory; a presented key is
hashed and compared with every digest in constant time. No key is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from gateway.protocol.bearer import bearer_credential
from gateway.protocol.errors import OutOfScope, Unauthorized
from gateway.protocol.frames import is_name
from gateway.runtime import metrics
from gateway.runtime.watched import FileError
from gateway.store import EVERY_APPLICATION, Scope

_KEY = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_BLANKS = re.compile(r"[ \t]+")
MAX_APPLICATION_ID = 255


@dataclass(frozen=True, slots=True)
class Grant:
    """What a request's credential allows: the applications it reaches, and whether it
    is an admin key (scope ``*``: every application, introspection, admin routes)."""

    scope: Scope
    admin: bool

    def require_admin(self) -> None:
        """OutOfScope (403) unless the credential is an admin key (or keys are off).

        The one call a route that needs ``*`` makes.
        """
        if not self.admin:
            raise OutOfScope("Authorization: this needs an admin key (scope *)")


OPEN = Grant(EVERY_APPLICATION, admin=True)  # no keys configured: everything is allowed


class ApiKeys:
    """The keys of one keys file, as SHA-256 digests with their grants."""

    def __init__(self, entries: Sequence[tuple[bytes, Grant]]) -> None:
        self._entries = tuple(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def grant_of(self, key: str) -> Grant | None:
        """The grant of a presented key, None when unknown.

        Every digest is compared, in constant time and without stopping at a match, so
        the time taken says nothing about which keys exist.
        """
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for stored, grant in self._entries:
            if hmac.compare_digest(stored, digest):
                found = grant
        return found


def parse_api_keys(data: bytes) -> ApiKeys:
    """The keys of an ``--api-keys-file``; FileError naming the first bad line."""
    entries: list[tuple[bytes, Grant]] = []
    lines: dict[bytes, int] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        fields = _fields(number, raw)
        if fields is None:
            continue
        digest = _digest(number, fields[0])
        if digest in lines:
            raise FileError(f"the same key as line {lines[digest]}", number)
        lines[digest] = number
        entries.append((digest, _grant(number, fields[1])))
    if not entries:
        raise FileError("holds no key")
    return ApiKeys(entries)


def _fields(number: int, raw: bytes) -> list[str] | None:
    """The two fields of a line, None for a blank or comment line."""
    try:
        line = raw.decode().strip(" \t\r")
    except UnicodeDecodeError:
        raise FileError("is not UTF-8", number) from None
    if not line or line.startswith("#"):
        return None
    fields = _BLANKS.split(line)
    if len(fields) != 2:
        raise FileError("expected '<key> <scope>'", number)
    return fields


def _digest(number: int, key: str) -> bytes:
    hashed = _DIGEST.fullmatch(key)
    if hashed is not None:
        return bytes.fromhex(hashed.group(1))
    if _KEY.fullmatch(key) is None:
        raise FileError(
            "a key is 16 to 256 characters of [A-Za-z0-9._~+/=-], "
            "or sha256: and 64 lowercase hex digits",
            number,
        )
    return hashlib.sha256(key.encode()).digest()


def _grant(number: int, scope: str) -> Grant:
    if scope == "*":
        return Grant(EVERY_APPLICATION, admin=True)
    applications = scope.split(",")
    if not all(is_name(app, MAX_APPLICATION_ID) and app != "*" for app in applications):
        raise FileError("the scope is * or applicationIDs separated by commas", number)
    return Grant(Scope.of(applications), admin=False)


def authenticate(request: web.Request, keys: ApiKeys | None) -> Grant:
    """The grant of a request's ``Authorization: Bearer <key>``; OPEN when keys are off.

    Unauthorized (401) when the header is missing, malformed or names no key.
    """
    if keys is None:
        return OPEN
    headers = request.headers.getall("Authorization", ())
    if not headers:
        metrics.auth_failure("api", "missing")
        raise Unauthorized("Authorization: missing; expected 'Bearer <key>'")
    key = bearer_credential(headers[0]) if len(headers) == 1 else None
    grant = None if key is None else keys.grant_of(key)
    if grant is None:
        metrics.auth_failure("api", "invalid")
        detail = "not a known API key" if key else "expected exactly 'Bearer <key>'"
        raise Unauthorized(f"Authorization: {detail}")
    return grant


def count_scope_refusal(error: Exception) -> None:
    """Count a refusal the store made for the key's scope (send, batch item, status, cancel)."""
    if isinstance(error, OutOfScope):
        metrics.auth_failure("api", "scope")
