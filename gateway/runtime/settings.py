"""Node settings: one typed struct read from command-line flags and ``AOI_*`` variables.

Every option is declared once in ``options.OPTIONS``; the parser, ``--help`` and
the environment lookup are all derived from that table. A bad value ends the
process with status 2 and one line naming the option and what it accepts.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from gateway.runtime.options import DAY, OPTIONS, Invalid, Option

__all__ = ["OPTIONS", "Option", "Settings", "env_name", "flag", "load_settings"]
REDIS_MODES = ("redis_url", "redis_sentinel", "redis_cluster")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node needs to know at start."""

    host: str = "0.0.0.0"
    port: int = 8080
    ops_port: int | None = None
    redis_url: str | None = None
    redis_sentinel: str | None = None
    redis_sentinel_service: str = "mymaster"
    redis_cluster: str | None = None
    redis_password: str | None = None
    redis_wait_replicas: int = 0
    redis_timeout: float = 1.0
    node_id: str = ""
    log_level: str = "info"
    log_format: str = "json"
    log_summary_interval: float = 60.0
    api_keys_file: str | None = None
    device_jwt_key: str | None = None
    device_jwt_audience: str | None = None
    device_jwt_issuer: str | None = None
    ping_interval: float = 30.0
    ws_compression: bool = False
    max_frame_bytes: int = 65536
    inflight_window: int = 64
    max_applications: int = 64
    max_pending: int = 1000
    max_connections: int = 20000
    connect_rate: float = 1000.0
    request_rate: float = 50.0
    address_connect_rate: float = 50.0
    address_register_rate: float = 10.0
    trusted_proxies: str | None = None
    identify_timeout: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 60.0
    write_timeout: float = 30.0
    max_header_bytes: int = 16384
    max_body_bytes: int = 16 << 20
    max_body_memory: int = 256 << 20
    registration_ttl: float = 270 * DAY
    drain_window: float = 10.0
    drain_grace: float = 20.0
    catchup_interval: float = 60.0
    liveness_ttl: float = 15.0
    status_retention: float = DAY
    console: bool = True


def flag(option: Option) -> str:
    """The command-line flag of an option."""
    return flag_of(option.name)


def env_name(option: Option) -> str:
    """The environment variable of an option."""
    return "AOI_" + option.name.upper()


def default_node_id() -> str:
    """Host name and process ID: unique per process on one machine."""
    return f"{socket.gethostname()[:48]}-{os.getpid()}"


_DEFAULTS_SHOWN = {
    "node_id": "derived from host name and process",
    "redis_url": "unset (with no Redis option: an embedded development server)",
    "ops_port": "unset",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aoi-gateway",
        description="Start one AOI gateway node. Every option also reads its AOI_* variable.",
    )
    defaults = Settings()
    for option in OPTIONS:
        default = getattr(defaults, option.name)
        shown = _DEFAULTS_SHOWN.get(option.name, default)
        parser.add_argument(
            flag(option),
            dest=option.name,
            metavar="VALUE",
            help=f"{option.help} ({option.allowed}; env {env_name(option)}; default {shown})",
        )
    return parser


def fail(message: str) -> NoReturn:
    """Stop the node at start with exit status 2 and one line, as for a bad option."""
    print(f"aoi-gateway: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_settings(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings from flags, then environment, then defaults; exit 2 on a bad value."""
    environ = os.environ if env is None else env
    args = vars(_parser().parse_args(argv))
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = args[option.name]
        source = flag(option)
        if raw is None:
            raw = environ.get(env_name(option))
            source = env_name(option)
        if raw is None or (raw == "" and source.startswith("AOI_")):
            continue
        try:
            values[option.name] = option.parse(raw)
        except Invalid:
            fail(f"{source}={raw!r} is invalid: expected {option.allowed}")
    settings = Settings(**values)
    if not settings.node_id:
        settings = replace(settings, node_id=default_node_id())
    if settings.drain_window >= settings.drain_grace:
        fail("--drain-window must be shorter than --drain-grace")
    modes = [flag_of(name) for name in REDIS_MODES if getattr(settings, name) is not None]
    if len(modes) > 1:
        fail(f"{' and '.join(modes)} exclude each other: give one Redis deployment")
    return settings


def flag_of(name: str) -> str:
    """The command-line flag of a setting's name."""
    return "--" + name.replace("_", "-")
