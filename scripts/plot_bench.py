#!/usr/bin/env python3
"""Plot ``aoi-bench`` JSON results into PNGs under docs/bench/.

Usage: ``python scripts/plot_bench.py bench-results/*.json [--out docs/bench]``

- ``latency-vs-offered-load.png``: p50/p99 delivery latency of paced push runs
  against their offered rate, one line per node count;
- ``throughput-vs-devices.png``: delivered/s of unpaced push runs against the
  number of devices, one line per node count and mode (single, batch);
- ``throughput-vs-nodes.png``: delivered/s of unpaced push runs against nodes.

matplotlib is a documentation tool, not a dependency of the gateway: it is
installed with pip on first use if missing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"]
        subprocess.run(pip, check=True, timeout=600)
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """The push results on standalone Redis among ``paths`` (other files are skipped:
    the Sentinel and Cluster runs are compared in a table, not plotted)."""
    documents = []
    for path in paths:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        standalone = document.get("parameters", {}).get("redis_mode", "standalone") == "standalone"
        if (
            document.get("tool") == "aoi-bench"
            and document.get("scenario") == "push"
            and standalone
        ):
            documents.append(document)
    return documents


def _series(points: dict[Any, list[tuple[float, float]]]) -> dict[Any, list[tuple[float, float]]]:
    return {key: sorted(values) for key, values in sorted(points.items())}


def latency_vs_load(documents: list[dict[str, Any]], out: Path, plt: Any) -> None:
    p50: dict[int, list[tuple[float, float]]] = defaultdict(list)
    p99: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for doc in documents:
        rate = doc["parameters"].get("rate")
        latency = doc["results"]["latency"]
        if rate and latency["p99_ms"] is not None:
            p50[doc["nodes"]].append((rate, latency["p50_ms"]))
            p99[doc["nodes"]].append((rate, latency["p99_ms"]))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for nodes, values in _series(p99).items():
        axes.plot(*zip(*values, strict=True), marker="o", label=f"p99, {nodes} node(s)")
    for nodes, values in _series(p50).items():
        axes.plot(*zip(*values, strict=True), marker=".", ls="--", label=f"p50, {nodes} node(s)")
    axes.set(xlabel="offered load (notifications/s)", ylabel="accept-to-receive latency (ms)")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    axes.set_title("Paced push: latency against offered load")
    figure.tight_layout()
    figure.savefig(out / "latency-vs-offered-load.png", dpi=120)


def throughput(documents: list[dict[str, Any]], out: Path, plt: Any) -> None:
    by_devices: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    by_nodes: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    for doc in documents:
        results = doc["results"]
        if doc["parameters"].get("rate") or not results["delivered_per_second"]:
            continue
        devices = doc["parameters"]["devices"]
        rate = results["delivered_per_second"]
        by_devices[(doc["nodes"], doc["mode"])].append((devices, rate))
        by_nodes[(devices, doc["mode"])].append((doc["nodes"], rate))
    for name, points, xlabel, label in (
        ("throughput-vs-devices.png", by_devices, "devices", "{0} node(s), {1}"),
        ("throughput-vs-nodes.png", by_nodes, "nodes", "{0} devices, {1}"),
    ):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for key, values in _series(points).items():
            axes.plot(*zip(*values, strict=True), marker="o", label=label.format(*key))
        axes.set(xlabel=xlabel, ylabel="delivered and acknowledged notifications/s")
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        axes.legend()
        axes.set_title(f"Push throughput against {xlabel}")
        figure.tight_layout()
        figure.savefig(out / name, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = parser.parse_args()
    documents = load(args.results)
    if not documents:
        raise SystemExit("plot_bench: no aoi-bench push results among the given files")
    plt = _pyplot()
    args.out.mkdir(parents=True, exist_ok=True)
    latency_vs_load(documents, args.out, plt)
    throughput(documents, args.out, plt)
    print(f"plot_bench: {len(documents)} results -> {args.out}/*.png")


if __name__ == "__main__":
    main()
