"""``aoi-bench``: a load generator and benchmark of AOI gateway nodes.

``aoi-bench push --local-nodes 2 --devices 2000 --notifications 20000`` starts a
loopback Redis (``--redis-mode standalone``, ``sentinel`` or ``cluster``) and two
nodes, connects 2000 devices round-robin, sends 20000 notifications to random
devices through random nodes, checks that each arrives exactly once at the right
device, and stops everything again.
``aoi-bench connect`` measures full handshakes per second and resident memory per
channel. Targets are only local nodes it started or URLs given with ``--url``;
every run is bounded by ``--duration-limit``. A progress line goes to stderr once
a second, the result to a JSON file (``--out``), and a one-line summary to stdout.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gateway.bench import report
from gateway.bench.local import REDIS_MODES, LocalCluster, raise_open_files_limit
from gateway.bench.scenarios import PushOptions, Setup, is_loopback, run_connect, run_push
from gateway.runtime import eventloop

MAX_DEVICES = 200_000
MAX_NOTIFICATIONS = 10_000_000
CLEANUP_GRACE = 90.0


def _bounded(kind: type[int] | type[float], low: float, high: float) -> Any:
    def parse(text: str) -> int | float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low}..{high}")
        return value

    return parse


def _common(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--url", action="append", default=[], help="node base URL (repeat for several nodes)")
    add("--local-nodes", type=_bounded(int, 1, 16), default=0, help="start Redis + N nodes")
    add("--node-arg", action="append", default=[], help="extra argument for local nodes")
    add("--redis-mode", choices=REDIS_MODES, default="standalone", help="of --local-nodes")
    add("--redis-url", action="append", default=[], help="Redis to read INFO from (repeat)")
    add("--devices", type=_bounded(int, 1, MAX_DEVICES), default=100)
    add("--duration-limit", type=_bounded(float, 1, 3600), default=300.0, help="seconds")
    add("--devices-per-worker", type=_bounded(int, 1, 15_000), default=10_000)
    add("--connect-concurrency", type=_bounded(int, 1, 5000), default=200, help="per worker")
    add("--timeout", type=_bounded(float, 0.1, 120), default=10.0, help="per request, seconds")
    add("--out", type=Path, help="JSON result file (default bench-results/<scenario>-<time>.json)")
    add(
        "--device-token-secret",
        type=Path,
        help="HMAC secret file of the nodes' --device-jwt-key: devices upgrade with HS256 tokens",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aoi-bench", description=__doc__.split("\n\n")[0])
    scenarios = parser.add_subparsers(dest="scenario", required=True)
    connect = scenarios.add_parser("connect", help="open and hold devices")
    _common(connect)
    connect.add_argument("--hold", type=_bounded(float, 0, 600), default=2.0, help="seconds")
    push = scenarios.add_parser("push", help="send notifications to held devices")
    _common(push)
    add = push.add_argument
    add("--notifications", type=_bounded(int, 1, MAX_NOTIFICATIONS), default=1000)
    add("--batch", type=_bounded(int, 1, 500), default=0, help="use the batch API, K per call")
    add("--rate", type=_bounded(float, 1, 1_000_000), help="offered notifications/s (paced)")
    add("--concurrency", type=_bounded(int, 1, 10_000), default=64, help="requests in flight")
    add("--payload-bytes", type=_bounded(int, 0, 4096), default=64)
    add("--seed", type=int, default=1)
    add("--drain-timeout", type=_bounded(float, 0.1, 600), default=15.0, help="seconds")
    add("--api-key", help="an API key of the nodes' --api-keys-file, sent with every send")
    return parser


def _check_targets(args: argparse.Namespace) -> None:
    """Only local nodes or explicitly given URLs; exit 2 otherwise."""
    if bool(args.url) == bool(args.local_nodes):
        raise SystemExit("aoi-bench: error: give either --local-nodes N or --url URL")
    for url in [*args.url, *args.redis_url]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "redis", "rediss") or not parts.hostname:
            raise SystemExit(f"aoi-bench: error: not a node or Redis URL: {url}")
        if not is_loopback(url):
            print(f"aoi-bench: note: {url} is not loopback (explicitly given)", file=sys.stderr)


@contextlib.asynccontextmanager
async def _targets(args: argparse.Namespace) -> AsyncIterator[tuple[list[str], Any]]:
    """The node URLs, with the local cluster (if any) running meanwhile."""
    if not args.local_nodes:
        yield [url.rstrip("/") for url in args.url], None
        return
    cluster = LocalCluster(args.local_nodes, args.node_arg, args.redis_mode)
    try:
        await asyncio.to_thread(cluster.start)
        yield cluster.urls, cluster
    finally:
        await asyncio.to_thread(cluster.stop)


async def _progress(args: argparse.Namespace, setup: Setup, started: float) -> None:
    while time.monotonic() < setup.deadline + CLEANUP_GRACE:
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - started
        print(f"aoi-bench {args.scenario} [{elapsed:6.1f}s] {setup.status()}", file=sys.stderr)


async def _scenario(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    if args.scenario == "connect":
        return await run_connect(setup, args.devices, args.hold)
    options = PushOptions(
        devices=args.devices,
        notifications=args.notifications,
        batch=args.batch,
        rate=args.rate,
        concurrency=args.concurrency,
        payload_bytes=args.payload_bytes,
        seed=args.seed,
        drain_timeout=args.drain_timeout,
    )
    return await run_push(setup, options)


def _secret(path: Path | None) -> bytes | None:
    """The HMAC secret of a file, read as the node reads it."""
    if path is None:
        return None
    try:
        return path.read_bytes().removesuffix(b"\n")
    except OSError as error:
        raise SystemExit(f"aoi-bench: error: {path}: {error.strerror}") from None


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    async with (
        asyncio.timeout(args.duration_limit + CLEANUP_GRACE),
        _targets(args) as (urls, cluster),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        setup = Setup(
            urls=urls,
            session=session,
            deadline=started + args.duration_limit,
            redis_urls=args.redis_url or (cluster.redis_urls if cluster else []),
            node_pids=cluster.node_pids if cluster else [],
            per_worker=args.devices_per_worker,
            connect_concurrency=args.connect_concurrency,
            timeout=args.timeout,
            api_key=getattr(args, "api_key", None),
            device_secret=_secret(args.device_token_secret),
        )
        progress = asyncio.create_task(_progress(args, setup, started))
        try:
            results = await _scenario(args, setup)
        finally:
            progress.cancel()
        return {"nodes": len(urls), "local": bool(cluster), "results": results}


def _document(args: argparse.Namespace, argv: Sequence[str], run: dict[str, Any]) -> dict[str, Any]:
    parameters = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if parameters.get("api_key"):
        parameters["api_key"] = "(given)"  # a credential never lands in a result file
    mode = "batch" if getattr(args, "batch", 0) else "single"
    if getattr(args, "rate", None):
        mode += "-paced"
    return {
        "tool": "aoi-bench",
        "format": 1,
        "scenario": args.scenario,
        "mode": mode if args.scenario == "push" else None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": ["aoi-bench", *argv],
        "parameters": parameters,
        "machine": report.machine(),
        **run,
    }


def _ok(document: dict[str, Any]) -> bool:
    results = document["results"]
    if document["scenario"] == "connect":
        return bool(results["connected"] == results["devices"])
    if not results["accepted"]:
        return False  # nothing was accepted (refused, unauthorised): nothing was measured
    return not (results["lost"] or results["duplicated"] or results["misrouted"])


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    _check_targets(args)
    raise_open_files_limit()
    run = eventloop.run(_run(args))
    document = _document(args, argv, run)
    out = args.out or report.default_out(args.scenario)
    report.write(out, document)
    print(report.summary(document, out), flush=True)
    sys.exit(0 if _ok(document) else 1)


if __name__ == "__main__":
    main()
