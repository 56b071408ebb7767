"""The node's credential files: API keys and the device-token key, kept current.

Read at start (a file that does not parse stops the node with exit status 2 and one
line), then polled for changes and re-read on SIGHUP; a later file that does not parse
keeps the previous keys (see ``runtime/watched.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.api.keys import ApiKeys, parse_api_keys
from gateway.runtime.settings import Settings, fail
from gateway.runtime.watched import FileError, WatchedFile
from gateway.ws.tokens import DeviceKeys, parse_device_keys

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Credentials:
    """The watched credential files; None where the setting is unset (open)."""

    api_keys: WatchedFile[ApiKeys] | None = None
    device_keys: WatchedFile[DeviceKeys] | None = None

    @classmethod
    def load(cls, settings: Settings) -> Credentials:
        """Read the configured files; exit 2 with one line when one does not parse."""
        if settings.device_jwt_key is None and (
            settings.device_jwt_audience or settings.device_jwt_issuer
        ):
            fail("--device-jwt-audience and --device-jwt-issuer need --device-jwt-key")
        return cls(
            _load(settings.api_keys_file, parse_api_keys, "--api-keys-file", "API keys file"),
            _load(
                settings.device_jwt_key,
                parse_device_keys,
                "--device-jwt-key",
                "device token key file",
            ),
        )

    @property
    def files(self) -> list[WatchedFile[Any]]:
        return [file for file in (self.api_keys, self.device_keys) if file is not None]

    def reload(self) -> None:
        """Read every file again now (SIGHUP)."""
        for file in self.files:
            file.refresh(force=True)


def _load(
    path: str | None, parse: Callable[[bytes], T], flag: str, what: str
) -> WatchedFile[T] | None:
    if path is None:
        return None
    try:
        return WatchedFile(path, parse, what)
    except FileError as error:
        fail(f"{flag} {path}: {error}")
