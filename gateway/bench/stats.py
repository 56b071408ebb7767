"""Measurements for ``aoi-bench``: a log-linear latency histogram, /proc readers, Redis INFO.

Redis cost is read from ``INFO commandstats stats cpu`` before and after a run
(one INFO call per snapshot, so the tool's own traffic is easy to subtract):

- ``commands``: sum of ``cmdstat_*`` calls, which counts the commands run inside
  Lua scripts as separate entries;
- ``top_level``: calls of the commands the gateway only ever issues itself
  (EVALSHA, EVAL, GET, SET, EXISTS, ZCOUNT, PING, ...); PUBLISH, HGET and HSET are
  left out because scripts issue them too (top-level PUBLISH is the bus
  self-ping, one per node per second);
- ``round_trips``: ``total_reads_processed``, the socket reads of the server: a
  pipeline arriving in one read counts once, which is what a round trip costs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

# Values below this many microseconds are exact; above, 64 sub-buckets per power of two.
_EXACT = 128
_SUB = 64
_TOP_LEVEL_ONLY = frozenset(
    {"evalsha", "evalsha_ro", "eval", "eval_ro", "get", "set", "exists", "zcount", "ping", "del"}
    | {"publish", "spublish", "wait"}  # the store sends these itself, never from a script
)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Histogram:
    """A mergeable log-linear histogram of durations (microsecond resolution, ~1.6% error)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0
        self.max_us = 0

    @staticmethod
    def _index(us: int) -> int:
        if us < _EXACT:
            return us
        shift = us.bit_length() - 7
        return _EXACT + (shift - 1) * _SUB + (us >> shift) - _SUB

    @staticmethod
    def _value(index: int) -> int:
        if index < _EXACT:
            return index
        shift, mantissa = divmod(index - _EXACT, _SUB)
        return (mantissa + _SUB) << (shift + 1)

    def record(self, seconds: float) -> None:
        us = max(0, int(seconds * 1_000_000))
        index = self._index(us)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += 1
        self.max_us = max(self.max_us, us)

    def merge(self, other: Histogram) -> None:
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        self.total += other.total
        self.max_us = max(self.max_us, other.max_us)

    def percentile_ms(self, share: float) -> float | None:
        """The value (ms) below which ``share`` (0..1) of the recorded values lie."""
        if not self.total:
            return None
        rank = max(1, round(share * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(self._value(index), self.max_us) / 1000
        return self.max_us / 1000

    def summary(self) -> dict[str, float | int | None]:
        """Count, p50, p90, p99, p99.9 and max in milliseconds."""
        return {
            "count": self.total,
            "p50_ms": self.percentile_ms(0.50),
            "p90_ms": self.percentile_ms(0.90),
            "p99_ms": self.percentile_ms(0.99),
            "p999_ms": self.percentile_ms(0.999),
            "max_ms": self.max_us / 1000 if self.total else None,
        }


# /proc ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of a process, in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# Redis -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedisSnapshot:
    """Counters of a Redis server at one moment."""

    commands: int
    top_level: int
    round_trips: int
    cpu_seconds: float

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> RedisSnapshot:
        commands = top_level = 0
        for key, value in info.items():
            if not key.startswith("cmdstat_") or not isinstance(value, dict):
                continue
            name = key.removeprefix("cmdstat_")
            if name == "info":
                continue  # the tool's own snapshots
            commands += int(value["calls"])
            if name in _TOP_LEVEL_ONLY:
                top_level += int(value["calls"])
        return cls(
            commands,
            top_level,
            int(info.get("total_reads_processed", 0)),
            float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
        )

    @classmethod
    def total(cls, shards: list[RedisSnapshot]) -> RedisSnapshot:
        """The counters of several servers (the shards of a cluster) added up."""
        return cls(
            sum(s.commands for s in shards),
            sum(s.top_level for s in shards),
            sum(s.round_trips for s in shards),
            sum(s.cpu_seconds for s in shards),
        )

    def cost(self, after: RedisSnapshot, delivered: int) -> dict[str, float | int | None]:
        """Redis work between two snapshots, also per delivered notification."""
        commands = after.commands - self.commands
        top_level = after.top_level - self.top_level
        round_trips = after.round_trips - self.round_trips - 1  # the later snapshot's read
        cpu = after.cpu_seconds - self.cpu_seconds

        def per(value: float) -> float | None:
            return round(value / delivered, 3) if delivered else None

        return {
            "commands": commands,
            "top_level_commands": top_level,
            "round_trips": round_trips,
            "cpu_seconds": round(cpu, 3),
            "commands_per_delivered": per(commands),
            "top_level_commands_per_delivered": per(top_level),
            "round_trips_per_delivered": per(round_trips),
            "cpu_seconds_per_10k": round(cpu * 10_000 / delivered, 4) if delivered else None,
        }
