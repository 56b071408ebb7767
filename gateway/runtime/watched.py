"""A configuration file read at start and again whenever it changes (or on demand, SIGHUP).

The file is parsed by a function of the layer that owns its format. A file that
does not parse at start is an error for the caller (the node exits 2); later,
the previous value is kept and an error is logged naming the file and the line
number, never the file's content (the files hold secrets).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

# How often a file's stat is compared with the one it was read at: a change is in use
# within this (the contract allows 10 s); a stat a second costs nothing.
POLL_INTERVAL = 1.0
# A credential file is small; a larger one is refused rather than read into memory.
MAX_FILE_BYTES = 4 << 20


class FileError(ValueError):
    """A file that cannot be read or does not parse.

    The message names the line and the rule it breaks, never the line's content.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


Stamp = tuple[int, int, int, int, int]


def _stamp(path: str) -> Stamp | None:
    """What changes when the file is rewritten or replaced (a Kubernetes Secret swaps a
    symlink; stat follows it); None when the file cannot be stat'ed."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def read_file(path: str) -> bytes:
    """The bytes of a credential file; FileError when it cannot be read or is too large."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise FileError(f"cannot be read ({error.strerror or type(error).__name__})") from None
    if len(data) > MAX_FILE_BYTES:
        raise FileError(f"is larger than {MAX_FILE_BYTES} bytes")
    return data


class WatchedFile(Generic[T]):
    """The parsed content of one file, kept current.

    ``what`` names the file in log lines (``"API keys file"``). Construction reads
    the file and raises FileError when it does not parse.
    """

    def __init__(self, path: str, parse: Callable[[bytes], T], what: str) -> None:
        self.path = path
        self.what = what
        self._parse = parse
        self._stamp = _stamp(path)
        self.value: T = parse(read_file(path))

    def refresh(self, force: bool = False) -> bool:
        """Read the file again if it changed (always when ``force``); True if the value was
        replaced. A file that does not parse keeps the previous value and logs an error
        once per change of the file."""
        stamp = _stamp(self.path)
        if stamp == self._stamp and not force:
            return False
        # The stamp taken before reading: a write that lands while reading changes the
        # stamp again, and the next poll reads the file once more.
        self._stamp = stamp
        try:
            self.value = self._parse(read_file(self.path))
        except FileError as error:
            log.error(
                "%s %s: %s; what was read before stays in force",
                self.what,
                self.path,
                error,
                extra={"path": self.path, "line": error.line},
            )
            return False
        log.info("%s %s re-read", self.what, self.path, extra={"path": self.path})
        return True


async def watch(files: Sequence[WatchedFile[Any]], interval: float = POLL_INTERVAL) -> None:
    """Refresh ``files`` every ``interval`` seconds, forever (cancel to stop)."""
    while True:
        await asyncio.sleep(interval)
        for file in files:
            file.refresh()
