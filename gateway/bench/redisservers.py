"""Loopback valkey-server processes and what every deployment of them offers.

``Server`` is one process on a free port; ``Topology`` is a deployment of them
with start, stop, the node's arguments and failure helpers (the kinds are in
``topology.py``). Every wait polls against a deadline and raises TimeoutError
when it passes.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from gateway.bench.nodeprocess import free_port
from gateway.node.embedded import server_binary

T = TypeVar("T")
HOST = "127.0.0.1"
SERVICE = "mymaster"
START_TIMEOUT = 30.0
FAILOVER_TIMEOUT = 30.0
DOWN_AFTER_MS = 1500  # Sentinel: a primary silent this long is down (pings are 1 s apart)
FAILOVER_TIMEOUT_MS = 3000  # Sentinel: a stalled failover is tried again after this
NODE_TIMEOUT_MS = 1000  # Cluster: a node silent this long is failing
_POLL = 0.05
PROBE = "aoi-topology-probe"  # keys written to prove a primary takes writes (10 s TTL)


def poll(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it is truthy; Redis and socket errors count as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (redis.RedisError, OSError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(_POLL)


def quoted(text: str) -> str:
    """``text`` as a quoted configuration-file argument."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Server:
    """One valkey-server process (a Sentinel if ``sentinel``) on a free loopback port."""

    def __init__(
        self, directory: Path, config: Sequence[str], password: str | None, sentinel: bool
    ) -> None:
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.directory = directory
        self.log = directory / "server.log"
        self.config = list(config)
        self.password = password  # what clients of this server authenticate with
        self.sentinel = sentinel
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0  # of the last process started
        directory.mkdir(parents=True)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self, extra: Sequence[str] = ()) -> None:
        """Start the process with its configuration and ``extra`` lines (does not wait)."""
        lines = [f"port {self.port}", f"bind {HOST}", f"dir {self.directory}"]
        lines += [f"logfile {self.log}", *self.config, *extra]
        if not self.sentinel:
            lines += ['save ""', "appendonly no", "repl-diskless-sync-delay 0"]
        conf = self.directory / "server.conf"  # a Sentinel rewrites its own file
        conf.write_text("\n".join(lines) + "\n")
        command = [server_binary(), str(conf), *(["--sentinel"] if self.sentinel else [])]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.pid = self.process.pid

    def wait_up(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the server answers PING."""

        def answers() -> bool:
            if not self.alive:
                raise RuntimeError(f"{self.address} exited; see {self.log}")
            return bool(self.command("PING"))

        poll(answers, timeout, f"{self.address} answering")

    def command(self, *args: Any) -> Any:
        """The reply of one command over a new connection: 1 s timeouts, no retries."""
        with redis.Redis(
            HOST,
            self.port,
            password=self.password,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0),  # the pollers retry; the default backs off for ~4 s
            decode_responses=True,
        ) as client:
            return client.execute_command(*args)

    def info(self, section: str) -> dict[str, Any]:
        reply: dict[str, Any] = self.command("INFO", section)
        return reply

    def kill(self) -> None:
        """SIGKILL (nothing is persisted, so a kill loses nothing a stop would keep)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


class Topology(ABC):
    """What every deployment offers: start, stop, the node's arguments, failure helpers."""

    mode = ""

    def __init__(self, password: str | None = None) -> None:
        self.password = password  # requirepass and masterauth of every data server
        self.root: Path | None = None  # the temporary directory, while started
        self.servers: list[Server] = []  # data servers, the first ones started as primaries
        self.sentinels: list[Server] = []
        self._killed: dict[str, str | None] = {}  # address of a killed primary: its key

    def _server(self, name: str, config: Sequence[str], sentinel: bool = False) -> Server:
        assert self.root is not None, "not started"
        if sentinel:
            server = Server(self.root / name, config, None, sentinel)
            self.sentinels.append(server)
            return server
        auth = []
        if self.password is not None:
            auth = [f"requirepass {quoted(self.password)}", f"masterauth {quoted(self.password)}"]
        server = Server(self.root / name, [*auth, *config], self.password, sentinel)
        self.servers.append(server)
        return server

    def start(self) -> None:
        """Start every process and wait until the deployment is healthy."""
        self.root = Path(tempfile.mkdtemp(prefix=f"aoi-{self.mode}-"))
        self.servers, self.sentinels = [], []
        atexit.register(self.stop)
        try:
            self._start()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill every process and remove the temporary directory."""
        atexit.unregister(self.stop)
        try:
            for server in [*self.sentinels, *self.servers]:
                server.kill()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Topology:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def node_args(self) -> list[str]:
        """The gateway's arguments for this deployment (the password is not among them)."""

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every server is up, with every replica linked to its primary."""
        for server in [*self.servers, *self.sentinels]:
            server.wait_up(timeout)
        poll(self._healthy, timeout, f"{self.mode} deployment healthy")

    @abstractmethod
    def _healthy(self) -> bool: ...

    def primaries(self) -> list[Server]:
        """The live data servers that are primaries now."""
        return [s for s in self.servers if s.alive and s.info("replication")["role"] == "master"]

    @abstractmethod
    def primary(self, key: str | None = None) -> Server:
        """The primary serving ``key`` (the one serving a fixed probe key if None)."""

    def kill_primary(self, key: str | None = None) -> Server:
        """SIGKILL the primary serving ``key``; returns it."""
        server = self.primary(key)
        self._killed[server.address] = key
        server.kill()
        return server

    def wait_failover(self, old: Server, timeout: float = FAILOVER_TIMEOUT) -> str:
        """Wait until a replica has replaced the killed ``old`` and takes writes; its address."""
        raise NotImplementedError(f"{self.mode} has no replica to promote")

    def restart(self, server: Server, timeout: float = START_TIMEOUT) -> None:
        """Start a killed server again, empty, as a replica; wait until all is healthy."""
        server.launch(self._rejoin())
        server.wait_up(timeout)
        self.wait_healthy(timeout)

    def _rejoin(self) -> list[str]:
        return []

    def by_address(self, address: str) -> Server:
        """The data server listening on ``address`` (LookupError if none)."""
        for server in self.servers:
            if server.address == address:
                return server
        raise LookupError(f"no server of this deployment listens on {address}")


def writable(server: Server, key: str) -> bool:
    """True once ``server`` is a primary that takes a write of ``key``."""
    return server.info("replication")["role"] == "master" and bool(
        server.command("SET", key, "1", "PX", "10000")
    )


def key_in_slot(slot: int) -> str:
    """A probe key that hashes to ``slot``."""
    n = 0
    while key_slot(f"{PROBE}:{{{n}}}".encode()) != slot:
        n += 1
    return f"{PROBE}:{{{n}}}"
