"""Errors of the device client."""

from __future__ import annotations

from typing import Any


class AoiError(Exception):
    """A response whose code is not 200."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(f"{response.get('code')} {response.get('desc')}: {response.get('detail')}")
        self.code = int(response.get("code", 0))
        self.response = response


class DeviceClosed(ConnectionError):
    """The device's connection is closed and it is not reconnecting."""

    def __init__(self, code: int | None, reason: str | None) -> None:
        said = f" ({reason})" if reason else ""
        super().__init__(f"the device is closed (code {code}{said}) and not reconnecting")
        self.code = code
        self.reason = reason
