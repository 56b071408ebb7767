"""Helpers of the authentication tests: keys made here (none is ever committed), device
tokens, key files, API-key files, and refused upgrades."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.calls import TIMEOUT

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_jwk(key: PrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK of a key, with its ``kid``."""
    public = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid}


def jwks(*keys: tuple[PrivateKey, str]) -> bytes:
    return json.dumps({"keys": [public_jwk(key, kid) for key, kid in keys]}).encode()


def hmac_secret() -> bytes:
    """A fresh HMAC secret as a file holds it: 64 hex characters and a newline."""
    return secrets.token_hex(32).encode() + b"\n"


def claims(device: str, ttl: float = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": device, "iat": now, "exp": now + int(ttl), **extra}


def token(
    key: PrivateKey | bytes,
    algorithm: str,
    payload: dict[str, Any],
    kid: str | None = None,
) -> str:
    """A token signed with ``key`` (a private key, or HMAC secret file bytes)."""
    if isinstance(key, bytes):
        key = key.removesuffix(b"\n")
    headers = None if kid is None else {"kid": kid}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_hs256(secret: bytes, payload: dict[str, Any]) -> str:
    """An HS256 token signed with any bytes as secret (a public key's PEM, say), made
    by hand: PyJWT itself refuses to use a PEM as HMAC secret."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    encoded = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return f"{signing_input}.{encoded}"


def unsigned(payload: dict[str, Any]) -> str:
    """A token with ``alg`` ``none``."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}."


def write(path: Path, data: bytes) -> Path:
    """Rewrite a key file in place, as an operator would."""
    path.write_bytes(data)
    return path


def api_key() -> str:
    return secrets.token_urlsafe(24)


def sha256_entry(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


async def upgrade_status(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """The answer to a websocket upgrade that the node refuses: status, headers, JSON body.

    Sent as a plain GET with the upgrade headers, so that the refusal's body can be read.
    """
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
    }
    async with http.get(
        url, headers={**upgrade, **(headers or {})}, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    ) as response:
        body = await response.json() if response.status != 101 else None
        return response.status, dict(response.headers), body
