"""The measuring scripts the docs cite still run against the current store and node."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 120


def run_script(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=True,
    )
    return done.stdout


def test_redis_memory_probe() -> None:
    out = run_script("redis_probe.py", "memory", "50", "64")
    assert re.search(r"50 devices, payload 64 B: per registered device \d+ B", out), out


def test_python_heap_probe() -> None:
    out = run_script("memory_probe.py", "50")
    heap = re.search(r"Python heap per connection: ([\d.]+) KiB", out)
    assert heap and 0 < float(heap.group(1)) < 64, out


def test_script_cost_probe() -> None:
    out = run_script("redis_probe.py", "scripts", "20", "3")
    cost = re.search(r"60 notifications: ([\d.]+) us in scripts and ([\d.]+) commands", out)
    assert cost and float(cost.group(1)) > 0 and float(cost.group(2)) > 10, out
