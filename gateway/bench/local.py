"""A local setup for ``aoi-bench``: a loopback Redis deployment and N node processes."""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path

from gateway.bench.nodeprocess import NodeProcess
from gateway.bench.topology import topology

# Node options that keep the node's own limits out of the measurement (all devices
# connect from a few loopback addresses, so the per-address limits are raised too).
DEFAULT_NODE_ARGS = (
    *("--connect-rate", "1000000", "--max-connections", "100000"),
    *("--address-connect-rate", "1000000", "--address-register-rate", "1000000"),
)
REDIS_MODES = ("standalone", "sentinel", "cluster")


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns the new limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class LocalCluster:
    """A Redis deployment (``mode``) plus ``count`` nodes; ``stop`` ends all of them."""

    def __init__(self, count: int, node_args: list[str], mode: str = "standalone") -> None:
        self.count = count
        self.node_args = node_args
        self.log_dir = Path(tempfile.mkdtemp(prefix="aoi-bench-"))
        self.redis = topology(mode)
        self.nodes: list[NodeProcess] = []

    @property
    def redis_urls(self) -> list[str]:
        """One URL per primary (per shard), to read INFO from."""
        return [f"redis://{server.address}" for server in self.redis.primaries()]

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
        args = ["--log-format", "json", *DEFAULT_NODE_ARGS, *self.node_args]
        redis_args = self.redis.node_args()
        for index in range(self.count):
            node = NodeProcess(redis_args, self.log_dir, f"bench-node-{index + 1}", args)
            node.launch()
            self.nodes.append(node)
        for node in self.nodes:
            node.wait_ready()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.stop()
