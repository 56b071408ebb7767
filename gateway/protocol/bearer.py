"""The ``Authorization: Bearer <credential>`` header of contract section 2.4."""

from __future__ import annotations

SCHEME = "Bearer"


def bearer_credential(header: str) -> str | None:
    """The credential of an ``Authorization`` value that is exactly ``Bearer <credential>``
    (one space, a credential without spaces); None for anything else."""
    scheme, space, credential = header.partition(" ")
    if scheme != SCHEME or not space or not credential or " " in credential:
        return None
    return credential
