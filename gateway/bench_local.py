"""A local setup for ``aoi-bench``: one embedded Redis and N node processes on loopback."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gateway.embedded import EmbeddedRedis

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Node options that keep the node's own limits out of the measurement.
T = TypeVar("T")
DEFAULT_NODE_ARGS = ("--connect-rate", "1000000", "--max-connections", "100000")


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns the new limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalNode:
    """One ``python -m gateway`` process logging JSON lines to a file."""

    def __init__(self, redis_url: str, node_id: str, log_dir: Path, extra: list[str]) -> None:
        self.node_id = node_id
        self.log_path = log_dir / f"{node_id}.log"
        command = [
            *(sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", "0"),
            *("--redis-url", redis_url, "--node-id", node_id, "--log-format", "json"),
            *DEFAULT_NODE_ARGS,
            *extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("AOI_REDIS_URL", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env
            )
        self.port = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready_port(self) -> int | None:
        """The port named by the node's "ready on" log line, once it is there."""
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"node {self.node_id} exited early: {tail}")
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if str(line.get("message", "")).startswith("ready on"):
                return int(line["port"])
        return None

    def readyz(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _wait(predicate: Callable[[], T | None], what: str, timeout: float = START_TIMEOUT) -> T:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout} s")


class LocalCluster:
    """Embedded Redis plus ``count`` nodes; ``stop`` ends all of them."""

    def __init__(self, count: int, node_args: list[str]) -> None:
        self.count = count
        self.node_args = node_args
        self.log_dir = Path(tempfile.mkdtemp(prefix="aoi-bench-"))
        self.redis = EmbeddedRedis(port=free_port())
        self.nodes: list[LocalNode] = []

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def node_pids(self) -> list[int]:
        return [node.pid for node in self.nodes]

    def start(self) -> None:
        """Start Redis and the nodes; wait for each ready line and ``/readyz`` 200."""
        raise_open_files_limit()  # inherited by the nodes
        self.redis.start()
        for index in range(self.count):
            node_id = f"bench-node-{index + 1}"
            self.nodes.append(LocalNode(self.redis_url, node_id, self.log_dir, self.node_args))
        for node in self.nodes:
            node.port = _wait(node.ready_port, f"node {node.node_id} ready line")
            _wait(node.readyz, f"node {node.node_id} /readyz")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.remove()
