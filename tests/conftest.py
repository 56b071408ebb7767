"""Fixtures: a real Redis-compatible server and real gateway node processes on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.client import AppServer, Device
from gateway.embedded import EmbeddedRedis

START_TIMEOUT = 20.0
_READY = re.compile(r"ready on [^\s]+:(\d+),")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Async version of wait_until: ``predicate`` may be a coroutine function."""
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


class RedisServer(EmbeddedRedis):
    """A valkey-server on a fixed loopback port, so it can be stopped and started again."""

    def __init__(self) -> None:
        super().__init__(port=free_port())


class NodeProcess:
    """One ``python -m gateway`` process with its log in a file."""

    def __init__(
        self, redis_url: str, log_dir: Path, node_id: str | None = None, **options: Any
    ) -> None:
        self.node_id = node_id or f"node-{uuid.uuid4().hex[:8]}"
        self.redis_url = redis_url
        self.options = options
        self.log_path = log_dir / f"{self.node_id}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "gateway",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--redis-url",
            self.redis_url,
            "--node-id",
            self.node_id,
        ]
        for name, value in self.options.items():
            args += ["--" + name.replace("_", "-"), str(value)]
        return args

    def start(self) -> NodeProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=_node_env()
        )
        log.close()
        self.port = wait_until(self._ready_port, START_TIMEOUT)
        wait_until(self._readyz_ok, START_TIMEOUT)
        return self

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
        return lines

    def _ready_port(self) -> int | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"node exited early: {self.log_path.read_text()[-2000:]}")
        match = _READY.search(self.log_path.read_text(errors="replace"))
        return int(match.group(1)) if match else None

    def _readyz_ok(self) -> bool:
        return self.http_status("/readyz") == 200

    def http_status(self, path: str) -> int:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return 0

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
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


def _node_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AOI_REDIS_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def start_node(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start node processes sharing the session's Redis; all are stopped afterwards."""
    started: list[NodeProcess] = []

    def start(redis_url: str | None = None, **options: Any) -> NodeProcess:
        options.setdefault("drain_window", 0.5)
        options.setdefault("catchup_interval", 0.5)
        node = NodeProcess(redis_url or redis_server.url, tmp_path, **options)
        started.append(node)
        return node.start()

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def node(start_node: Callable[..., NodeProcess]) -> NodeProcess:
    return start_node()


@pytest.fixture
def three_nodes(start_node: Callable[..., NodeProcess]) -> list[NodeProcess]:
    return [start_node() for _ in range(3)]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def app_server(node: NodeProcess, http: aiohttp.ClientSession) -> AppServer:
    return AppServer(node.url, http)


@pytest.fixture
async def connect(http: aiohttp.ClientSession) -> AsyncIterator[Callable[..., Any]]:
    """Open devices; all are closed after the test."""
    opened: list[Device] = []

    async def open_device(url: str) -> Device:
        device = await Device.connect(url, session=http)
        opened.append(device)
        return device

    yield open_device
    for device in opened:
        await device.close()


def device_number() -> str:
    """A fresh deviceNumber for one test."""
    return "dev-" + uuid.uuid4().hex
