"""Node settings: one typed struct read from command-line flags and ``AOI_*`` variables.

Every option is declared once in ``OPTIONS``; the parser, ``--help`` and the
environment lookup are all derived from that table. A bad value ends the process
with status 2 and one line naming the option and what it accepts.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node needs to know at start."""

    host: str = "0.0.0.0"
    port: int = 8080
    redis_url: str | None = None
    redis_password: str | None = None
    node_id: str = ""
    log_level: str = "info"
    log_format: str = "json"
    ping_interval: float = 30.0
    ws_compression: bool = False
    max_frame_bytes: int = 65536
    inflight_window: int = 64
    max_applications: int = 64
    max_pending: int = 1000
    max_connections: int = 20000
    connect_rate: float = 1000.0
    request_rate: float = 50.0
    drain_window: float = 10.0
    drain_grace: float = 20.0
    redis_timeout: float = 1.0
    catchup_interval: float = 2.0
    liveness_ttl: float = 15.0
    status_retention: float = 86400.0


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: how it is parsed, what it accepts and what it means."""

    name: str
    parse: Callable[[str], Any]
    allowed: str
    help: str


class _Invalid(ValueError):
    pass


def _number(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise _Invalid from None
        if not low <= value <= high:
            raise _Invalid
        return value

    return parse


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise _Invalid
        return text.lower()

    return parse


def _switch(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("on", "true", "1"):
        return True
    if lowered in ("off", "false", "0"):
        return False
    raise _Invalid


def _text(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not 0 < len(text) <= max_length or any(c.isspace() for c in text):
            raise _Invalid
        return text

    return parse


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise _Invalid
    return text


OPTIONS: tuple[Option, ...] = (
    Option("host", _text(255), "a host name or IP address", "address to listen on"),
    Option("port", _number(int, 0, 65535), "an integer 0..65535", "HTTP port (0: any free)"),
    Option(
        "redis_url",
        _redis_url,
        "a redis://, rediss:// or unix:// URL",
        "Redis URL; unset starts an embedded single-node development server",
    ),
    Option(
        "redis_password",
        str,
        "a string",
        "Redis password (prefer the environment variable; never logged)",
    ),
    Option("node_id", _text(64), "1..64 characters, no spaces", "node identity in Redis"),
    Option("log_level", _choice(LOG_LEVELS), "one of " + ", ".join(LOG_LEVELS), "log level"),
    Option("log_format", _choice(LOG_FORMATS), "json or text", "log line format"),
    Option("ping_interval", _number(float, 1, 3600), "seconds 1..3600", "websocket ping period"),
    Option(
        "ws_compression",
        _switch,
        "on or off",
        "accept permessage-deflate when a client offers it (about 90 KiB more per connection)",
    ),
    Option(
        "max_frame_bytes",
        _number(int, 1024, 16 << 20),
        "an integer 1024..16777216",
        "largest accepted websocket message (1009 beyond)",
    ),
    Option(
        "inflight_window",
        _number(int, 1, 10000),
        "an integer 1..10000",
        "unacknowledged notifications per channel",
    ),
    Option(
        "max_applications",
        _number(int, 1, 10000),
        "an integer 1..10000",
        "applications per client",
    ),
    Option(
        "max_pending",
        _number(int, 1, 1_000_000),
        "an integer 1..1000000",
        "pending notifications per client (429 beyond)",
    ),
    Option(
        "max_connections",
        _number(int, 1, 1_000_000),
        "an integer 1..1000000",
        "websockets per node (upgrade refused with 503 beyond)",
    ),
    Option(
        "connect_rate",
        _number(float, 1, 1_000_000),
        "a number 1..1000000",
        "new websockets per second per node",
    ),
    Option(
        "request_rate",
        _number(float, 0.1, 1_000_000),
        "a number 0.1..1000000",
        "requests per second per connection (burst: twice this)",
    ),
    Option(
        "drain_window",
        _number(float, 0, 3600),
        "seconds 0..3600",
        "on SIGTERM, spread websocket closes over this window",
    ),
    Option(
        "drain_grace", _number(float, 1, 3600), "seconds 1..3600", "on SIGTERM, exit within this"
    ),
    Option(
        "redis_timeout",
        _number(float, 0.05, 30),
        "seconds 0.05..30",
        "Redis connect and command timeout",
    ),
    Option(
        "catchup_interval",
        _number(float, 0.1, 60),
        "seconds 0.1..60",
        "period of the check for notifications whose doorbell was lost",
    ),
    Option(
        "liveness_ttl",
        _number(float, 1, 30),
        "seconds 1..30",
        "lifetime of the node's liveness record (a dead node's channels stop counting after it)",
    ),
    Option(
        "status_retention",
        _number(float, 60, 30 * 86400),
        "seconds 60..2592000",
        "how long a final notification status stays readable",
    ),
)


def flag(option: Option) -> str:
    """The command-line flag of an option."""
    return "--" + option.name.replace("_", "-")


def env_name(option: Option) -> str:
    """The environment variable of an option."""
    return "AOI_" + option.name.upper()


def default_node_id() -> str:
    """Host name and process ID: unique per process on one machine."""
    return f"{socket.gethostname()[:48]}-{os.getpid()}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aoi-gateway",
        description="Start one AOI gateway node. Every option also reads its AOI_* variable.",
    )
    defaults = Settings()
    for option in OPTIONS:
        default = getattr(defaults, option.name)
        shown = "derived from host name and process" if option.name == "node_id" else default
        parser.add_argument(
            flag(option),
            dest=option.name,
            metavar="VALUE",
            help=f"{option.help} ({option.allowed}; env {env_name(option)}; default {shown})",
        )
    return parser


def _fail(message: str) -> NoReturn:
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
        except _Invalid:
            _fail(f"{source}={raw!r} is invalid: expected {option.allowed}")
    settings = Settings(**values)
    if not settings.node_id:
        settings = replace(settings, node_id=default_node_id())
    if settings.drain_window >= settings.drain_grace:
        _fail("--drain-window must be shorter than --drain-grace")
    return settings
