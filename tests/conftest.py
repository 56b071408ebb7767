"""Fixtures: real Redis deployments and real gateway node processes on loopback.

Tests under BOTH_MODES run once per Redis mode in ``AOI_TEST_REDIS_MODES``
(default: standalone and cluster); the Cluster (three shards of two) is started
once per session and shared. A test that only makes sense on one standalone
server is marked ``standalone_only`` and skips in the other modes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.bench.nodeprocess import NodeProcess, free_port, wait_until
from gateway.bench.topology import Cluster
from gateway.client import AppServer, Device
from gateway.node.embedded import EmbeddedRedis
from tests.deployments import Deployment

__all__ = ["NodeProcess", "free_port", "wait_until"]  # helpers the tests import from here

START_TIMEOUT = 20.0
UNLIMITED_RATE = 1_000_000


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


def node_args(options: dict[str, Any]) -> list[str]:
    """``max_pending=5`` becomes ``--max-pending 5``."""
    args = []
    for name, value in options.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    return args


BOTH_MODES = (
    "tests/fleet/",
    "tests/api/test_notifications.py",
    "tests/node/test_end_to_end.py",
    "tests/node/test_expiry.py",
)
MODES = tuple(os.environ.get("AOI_TEST_REDIS_MODES", "standalone,cluster").split(","))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "standalone_only(reason): the test needs one standalone Redis server"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the multi-node, delivery, drain and crash tests in every Redis mode."""
    path = Path(metafunc.definition.fspath).relative_to(Path(__file__).parent.parent).as_posix()
    if "redis_mode" in metafunc.fixturenames and path.startswith(BOTH_MODES):
        metafunc.parametrize("redis_mode", MODES, indirect=True)


@pytest.fixture
def redis_mode(request: pytest.FixtureRequest) -> str:
    mode: str = getattr(request, "param", "standalone")
    marker = request.node.get_closest_marker("standalone_only")
    if marker is not None and mode != "standalone":
        pytest.skip(f"standalone only: {marker.args[0]}")
    return mode


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """One Cluster for the session (tests use keys of their own, so they can share it)."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def deployment(redis_mode: str, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """The Redis deployment of this test's mode, emptied after the test (its nodes
    have stopped by then: they are torn down first)."""
    if redis_mode == "cluster":
        shared = Deployment.of_cluster(request.getfixturevalue("redis_cluster"))
    else:
        shared = Deployment.of_standalone(request.getfixturevalue("redis_server").url)
    yield shared
    shared.flush()


@pytest.fixture
def start_node(deployment: Deployment, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start node processes sharing the test's Redis; all are stopped afterwards."""
    started: list[NodeProcess] = []

    def start(
        redis: str | list[str] | None = None, prefix: tuple[str, ...] = (), **options: Any
    ) -> NodeProcess:
        options.setdefault("drain_window", 0.5)
        options.setdefault("catchup_interval", 0.5)
        # Every test connects from 127.0.0.1: per-address limits only where tested.
        options.setdefault("address_connect_rate", UNLIMITED_RATE)
        options.setdefault("address_register_rate", UNLIMITED_RATE)
        node_id = f"node-{uuid.uuid4().hex[:8]}"
        args = node_args(options)
        node = NodeProcess(redis or deployment.node_args, tmp_path, node_id, args, prefix)
        started.append(node)
        return node.start(START_TIMEOUT)

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

    async def open_device(url: str, **options: Any) -> Device:
        device = await Device.connect(url, session=http, **options)
        opened.append(device)
        return device

    yield open_device
    for device in opened:
        await device.close()


def device_number() -> str:
    """A fresh deviceNumber for one test."""
    return "dev-" + uuid.uuid4().hex
