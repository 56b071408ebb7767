"""Smoke tests of ``aoi-bench``: each scenario at a tiny size through the real CLI.

No timing assertions: only that the run completes, the JSON result has its
fields and nothing was lost, duplicated or misrouted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUN_TIMEOUT = 60


def bench(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    command = [sys.executable, "-m", "gateway.bench.cli", *args, "--duration-limit", "30"]
    done = subprocess.run(
        [*command, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout
    assert str(out) in done.stdout  # the one-line summary names the result file
    document: dict[str, Any] = json.loads(out.read_text())
    assert document["tool"] == "aoi-bench" and document["machine"]["nproc"] >= 1
    return document


def assert_delivered_exactly_once(results: dict[str, Any], notifications: int) -> None:
    assert results["accepted"] == notifications
    assert results["delivered"] == notifications
    assert results["lost"] == results["duplicated"] == results["misrouted"] == 0
    for field in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        assert results["latency"][field] is not None
    assert results["delivered_per_second"] > 0
    assert results["node_cpu_ms_per_delivered"] is not None
    redis = results["redis"]
    for field in ("commands_per_delivered", "round_trips_per_delivered", "cpu_seconds_per_10k"):
        assert redis[field] is not None


def test_connect(tmp_path: Path) -> None:
    document = bench(tmp_path, "connect", "--local-nodes", "1", "--devices", "20", "--hold", "0")
    results = document["results"]
    assert document["scenario"] == "connect" and document["nodes"] == 1
    assert results["connected"] == 20 and results["failures"] == {}
    assert results["handshakes_per_second"] > 0
    assert results["rss_per_channel_kib"] is not None
    assert results["handshake_latency"]["count"] == 20


@pytest.mark.parametrize(
    ("extra", "mode"),
    [
        ((), "single"),
        (("--batch", "50"), "batch"),
    ],
)
def test_push(tmp_path: Path, extra: tuple[str, ...], mode: str) -> None:
    document = bench(
        tmp_path,
        *("push", "--local-nodes", "2", "--devices", "20", "--notifications", "200"),
        *extra,
    )
    assert document["mode"] == mode and document["nodes"] == 2
    results = document["results"]
    assert_delivered_exactly_once(results, 200)
    assert 0 < results["crossed"] < 200


def test_push_paced(tmp_path: Path) -> None:
    document = bench(
        tmp_path,
        *("push", "--local-nodes", "1", "--devices", "10", "--notifications", "100"),
        *("--rate", "200"),
    )
    assert document["mode"] == "single-paced"
    results = document["results"]
    assert_delivered_exactly_once(results, 100)
    assert results["crossed"] == 0  # one node: nothing crosses


def test_refuses_without_target(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.bench.cli", "push", "--devices", "1"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=tmp_path,
    )
    assert done.returncode != 0 and "--local-nodes" in done.stderr


def test_push_with_api_key_and_device_tokens(tmp_path: Path) -> None:
    key = "bench-key-0123456789abcdef"
    (tmp_path / "keys").write_text(f"{key} com.example.bench\n")
    (tmp_path / "secret").write_bytes(b"s" * 32 + b"\n")
    document = bench(
        tmp_path,
        *("push", "--local-nodes", "1", "--devices", "10", "--notifications", "100"),
        *("--api-key", key, "--device-token-secret", str(tmp_path / "secret")),
        f"--node-arg=--api-keys-file={tmp_path / 'keys'}",
        f"--node-arg=--device-jwt-key={tmp_path / 'secret'}",
    )
    assert_delivered_exactly_once(document["results"], 100)
    assert document["parameters"]["api_key"] == "(given)"  # never the key itself


def test_push_fails_when_nothing_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("bench-key-0123456789abcdef *\n")
    command = [sys.executable, "-m", "gateway.bench.cli", "push", "--local-nodes", "1"]
    keys = f"--node-arg=--api-keys-file={tmp_path / 'keys'}"
    out = ("--out", str(tmp_path / "r.json"))
    done = subprocess.run(
        [*command, "--devices", "5", "--notifications", "20", "--duration-limit", "30", keys, *out],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=tmp_path,
    )
    assert done.returncode == 1  # every send answered 401
    assert json.loads((tmp_path / "r.json").read_text())["results"]["accepted"] == 0
