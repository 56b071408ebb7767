"""Gateway node processes on loopback, for the benchmark tool and the test suite.

A node is ``python -m gateway`` logging to a file; it is ready once its "ready on"
line names its port and ``/readyz`` answers 200.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
_READY = re.compile(r"ready on [^\s]+:(\d+),")
_OPS_PORT = re.compile(r"ready on .*, operations port (\d+)")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], T | None], timeout: float, interval: float = 0.02) -> T:
    """Poll ``predicate`` until it returns something truthy; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def read_log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a node's log file (other lines skipped)."""
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


def http_status(url: str) -> int:
    """The status of ``GET url``, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


class NodeProcess:
    """One ``python -m gateway`` process on 127.0.0.1 with its log in ``log_dir``."""

    def __init__(
        self,
        redis: str | Sequence[str],
        log_dir: Path,
        node_id: str,
        args: Sequence[str] = (),
        prefix: Sequence[str] = (),
    ) -> None:
        """``redis``: a standalone Redis URL, or the node's Redis options (e.g. a
        deployment's ``node_args()``)."""
        self.node_id = node_id
        self.prefix = list(prefix)  # e.g. a prlimit command line the node runs under
        self.redis_args = ["--redis-url", redis] if isinstance(redis, str) else list(redis)
        self.args = list(args)
        self.log_path = log_dir / f"{node_id}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def launch(self) -> None:
        """Start the process (does not wait for it)."""
        command = [
            *self.prefix,
            *(sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", "0"),
            *self.redis_args,
            *("--node-id", self.node_id),
            *self.args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name in ("URL", "SENTINEL", "CLUSTER"):
            env.pop(f"AOI_REDIS_{name}", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env
            )

    def wait_listening(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the ready line (the node serves; it may not be ready)."""
        self.port = wait_until(self._ready_port, timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the ready line and for ``/readyz`` 200."""
        self.wait_listening(timeout)
        wait_until(lambda: self.http_status("/readyz") == 200, timeout)

    def start(self, timeout: float = START_TIMEOUT) -> NodeProcess:
        self.launch()
        self.wait_ready(timeout)
        return self

    def _ready_port(self) -> int | None:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise AssertionError(f"node {self.node_id} exited early: {tail}")
        match = _READY.search(self.log_path.read_text(errors="replace"))
        return int(match.group(1)) if match else None

    def log_lines(self) -> list[dict[str, Any]]:
        """The node's JSON log lines so far (other lines skipped)."""
        return read_log_lines(self.log_path)

    def http_status(self, path: str) -> int:
        """The status of ``GET path`` on the node, 0 when it does not answer."""
        return http_status(self.url + path)

    @property
    def redis_url(self) -> str | None:
        """The standalone Redis URL the node was started with (None in other modes)."""
        return self.redis_args[1] if self.redis_args[:1] == ["--redis-url"] else None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ops_url(self) -> str:
        """The operations port's URL (the node was started with --ops-port)."""
        match = _OPS_PORT.search(self.log_path.read_text(errors="replace"))
        assert match, "the node has no operations port"
        return f"http://127.0.0.1:{match.group(1)}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url + "/ws"

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """SIGTERM (the node drains), then SIGKILL if it overstays."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
