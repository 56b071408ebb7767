"""Device tokens (contract section 2.4): the key file, and the JWT an upgrade carries.

The key file holds a PEM public key (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA), a
JWKS (each key chosen by the token's ``kid``, its algorithm fixed by the key), or an
HMAC secret (HS256, at least 32 bytes). The algorithm always follows from the key: a
token naming another ``alg`` (``none`` included) is refused, so a token "signed" with a
public key as its HMAC secret never verifies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import InvalidSubjectError

from gateway.protocol.frames import is_name
from gateway.runtime.watched import FileError

LEEWAY = 30.0
HMAC_MINIMUM_BYTES = 32
RSA_MINIMUM_BITS = 2048
ALGORITHMS = ("RS256", "ES256", "EdDSA", "HS256")


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """One key and the only algorithm it verifies."""

    algorithm: str
    key: Any  # a cryptography public key, or the HMAC secret's bytes


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """What verifies device tokens: one key (PEM or HMAC file), or a JWKS by ``kid``."""

    one: VerifyingKey | None = None
    by_kid: Mapping[str, VerifyingKey] | None = None

    def for_token(self, token: str) -> VerifyingKey:
        """The key that must have signed ``token``; InvalidTokenError when none."""
        if self.one is not None:
            return self.one
        kid = jwt.get_unverified_header(token).get("kid")
        key = self.by_kid.get(kid) if self.by_kid and isinstance(kid, str) else None
        if key is None:
            raise UnknownKid("no key of the key file has the token's kid")
        return key


class UnknownKid(jwt.InvalidTokenError):
    """A token whose ``kid`` names no key of the JWKS."""


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated connection: its device, and when its token stops being valid
    (``exp`` plus the leeway, Unix seconds)."""

    device_number: str
    expires_at: float


class TokenRefused(Exception):
    """An upgrade without a valid token; ``reason`` is the metric's (missing, invalid,
    expired), ``detail`` the answer's (never the token)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_device_keys(data: bytes) -> DeviceKeys:
    """The keys of a ``--device-jwt-key`` file; FileError naming what is wrong."""
    start = data.lstrip()
    if start.startswith(b"-----BEGIN"):
        return DeviceKeys(one=_pem_key(data))
    if start.startswith(b"{"):
        # Never an HMAC secret: a broken JWKS read as a secret would let anyone who has
        # the (public) document sign tokens.
        return DeviceKeys(by_kid=_jwks(data))
    return DeviceKeys(one=VerifyingKey("HS256", _hmac_secret(data.removesuffix(b"\n"))))


def _hmac_secret(secret: bytes) -> bytes:
    if len(secret) < HMAC_MINIMUM_BYTES:
        raise FileError(f"an HMAC secret must be at least {HMAC_MINIMUM_BYTES} bytes")
    try:
        # Refuses what looks like a public key or certificate (algorithm confusion).
        return HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except jwt.InvalidKeyError:
        raise FileError("holds a public key or certificate, not an HMAC secret") from None


def _pem_key(data: bytes) -> VerifyingKey:
    if b"PRIVATE KEY" in data.lstrip().split(b"\n", 1)[0]:
        raise FileError("holds a private key; give the public key", line=1)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise FileError("is not a PEM public key", line=1) from None
    return VerifyingKey(_algorithm_of(key), key)


def _algorithm_of(key: Any) -> str:
    """The algorithm a public key verifies: RS256, ES256 or EdDSA; FileError otherwise."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MINIMUM_BITS:
            raise FileError(f"an RSA key must have at least {RSA_MINIMUM_BITS} bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise FileError("the key must be an RSA, EC P-256 or Ed25519 public key")


def _jwks(data: bytes) -> dict[str, VerifyingKey]:
    try:
        document = json.loads(data.decode())
    except UnicodeDecodeError:
        raise FileError("is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise FileError("is not valid JSON", line=error.lineno) from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise FileError('a JWKS must be {"keys": [...]} with at least one key')
    keys: dict[str, VerifyingKey] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise FileError(f"keys[{index}]: not a JSON object")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or kid in keys:
            raise FileError(f"keys[{index}]: needs a kid of its own")
        keys[kid] = _jwk(index, entry)
    return keys


def _jwk(index: int, entry: dict[str, Any]) -> VerifyingKey:
    if entry.get("kty") != "oct" and "d" in entry:
        raise FileError(f"keys[{index}]: holds a private key; give the public key")
    try:
        jwk = jwt.PyJWK(entry)
    except jwt.PyJWTError:
        raise FileError(f"keys[{index}]: not a usable key (kty, crv, alg)") from None
    if jwk.algorithm_name not in ALGORITHMS:
        raise FileError(f"keys[{index}]: the algorithm must be one of {', '.join(ALGORITHMS)}")
    try:
        if jwk.algorithm_name == "HS256":
            return VerifyingKey("HS256", _hmac_secret(jwk.key))
        _algorithm_of(jwk.key)
    except FileError as error:
        raise FileError(f"keys[{index}]: {error}") from None
    return VerifyingKey(jwk.algorithm_name, jwk.key)


# Why a token was refused, most specific first (subclasses before their bases).
_REFUSALS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "expired", "token: expired"),
    (jwt.ImmatureSignatureError, "invalid", "token: not valid yet (nbf or iat in the future)"),
    (jwt.InvalidSignatureError, "invalid", "token: bad signature"),
    (jwt.InvalidAlgorithmError, "invalid", "token: alg is not the algorithm of the key"),
    (jwt.InvalidAudienceError, "invalid", "token: aud does not match"),
    (jwt.InvalidIssuerError, "invalid", "token: iss does not match"),
    (jwt.MissingRequiredClaimError, "invalid", "token: a required claim is missing"),
    (InvalidSubjectError, "invalid", "token: sub is not a deviceNumber"),
    (UnknownKid, "invalid", "token: no key of the key file has its kid"),
    (jwt.DecodeError, "invalid", "token: malformed"),
    (jwt.PyJWTError, "invalid", "token: invalid"),
)


def verify(token: str, keys: DeviceKeys, audience: str | None, issuer: str | None) -> Identity:
    """The identity a device token proves; TokenRefused when it proves none."""
    try:
        key = keys.for_token(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY,
            options={"require": ["exp", "sub"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as error:
        reason, detail = next((r, d) for kind, r, d in _REFUSALS if isinstance(error, kind))
        raise TokenRefused(reason, detail) from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not is_name(subject, 64):
        raise TokenRefused("invalid", "token: sub is not a deviceNumber")
    return Identity(subject, float(claims["exp"]) + LEEWAY)
