"""Results of ``aoi-bench``: sends matched with receipts, the machine, the JSON file, summary."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.bench.fleet import Receipts
from gateway.bench.sender import SendLog
from gateway.bench.stats import Histogram


@dataclass(slots=True)
class Delivery:
    """Accepted notifications matched with what the devices received."""

    latency: Histogram = field(default_factory=Histogram)
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    redelivered_after_close: int = 0
    misrouted: int = 0
    unexpected: int = 0
    last_receipt: float = 0.0


def match(log: SendLog, receipts: list[Receipts]) -> Delivery:
    """First receipt by the target device counts; everything else is classified."""
    result = Delivery()
    closed = {index for part in receipts for index in part.closed_devices}
    first: set[str] = set()
    for part in receipts:
        for notification_id, device, received in part.received:
            target = log.accepted.get(notification_id)
            if target is None:
                result.unexpected += 1
            elif device != target[0]:
                result.misrouted += 1
            elif notification_id in first:
                if device in closed:
                    result.redelivered_after_close += 1
                else:
                    result.duplicated += 1
            else:
                first.add(notification_id)
                result.latency.record(received - target[1])
                result.last_receipt = max(result.last_receipt, received)
    result.delivered = len(first)
    result.lost = len(log.accepted) - result.delivered
    return result


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory and kernel of this machine."""
    model = None
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(total_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def default_out(scenario: str) -> Path:
    return Path("bench-results") / f"{scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"


def write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.0f}{unit}" if abs(value) >= 100 else f"{value:.3g}{unit}"
    return f"{value}{unit}"


def summary(document: dict[str, Any], path: Path) -> str:
    """One line for stdout."""
    r = document["results"]
    if document["scenario"] == "connect":
        return (
            f"connect: {r['connected']}/{r['devices']} devices, "
            f"{_fmt(r['handshakes_per_second'])} handshakes/s, "
            f"handshake p99 {_fmt(r['handshake_latency']['p99_ms'], ' ms')}, "
            f"{_fmt(r['rss_per_channel_kib'], ' KiB')}/channel, "
            f"failures {sum(r['failures'].values())} -> {path}"
        )
    latency = r["latency"]
    redis = r.get("redis") or {}
    return (
        f"{document['scenario']}: {r['delivered']}/{r['accepted']} delivered, "
        f"{_fmt(r['delivered_per_second'])}/s, p50 {_fmt(latency['p50_ms'], ' ms')} "
        f"p99 {_fmt(latency['p99_ms'], ' ms')} max {_fmt(latency['max_ms'], ' ms')}, "
        f"lost {r['lost']} duplicated {r['duplicated']} misrouted {r['misrouted']}, "
        f"crossed {_fmt(r['crossed_share'])}, "
        f"redis {_fmt(redis.get('round_trips_per_delivered'))} rt/notif, "
        f"node cpu {_fmt(r['node_cpu_ms_per_delivered'], ' ms')}/notif -> {path}"
    )
