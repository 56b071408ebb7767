"""Development device tokens: HS256, signed with the node's HMAC secret file."""

from __future__ import annotations

import sys
import time

import jwt

HMAC_MINIMUM_BYTES = 32  # the node refuses shorter secrets (contract section 2.4)


def mint_token(secret: bytes, device_number: str, ttl: float, **claims: str) -> str:
    """An HS256 device token for ``device_number`` valid ``ttl`` seconds from now."""
    now = int(time.time())
    payload = {"sub": device_number, "iat": now, "exp": now + int(ttl), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def print_token(secret_file: str, device_number: str, ttl: float, **claims: str) -> int:
    """Print a development token signed with the HMAC secret of ``secret_file``; the
    exit status (2: the file cannot be read or is too short)."""
    try:
        with open(secret_file, "rb") as file:
            secret = file.read().removesuffix(b"\n")  # as the node reads it
    except OSError as error:
        print(f"aoi-ctl: {secret_file}: {error.strerror}", file=sys.stderr)
        return 2
    if len(secret) < HMAC_MINIMUM_BYTES:
        print(f"aoi-ctl: the secret must be at least {HMAC_MINIMUM_BYTES} bytes", file=sys.stderr)
        return 2
    print(mint_token(secret, device_number, ttl, **claims), flush=True)
    return 0
