"""Every option of a node, declared once: name, parser, what it accepts, what it means.

The command-line parser, ``--help``, the environment lookup and the documentation
tables are derived from ``OPTIONS``; ``settings.py`` builds the typed settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
DAY = 86400.0


class Invalid(ValueError):
    """A value an option does not accept."""


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: how it is parsed, what it accepts and what it means."""

    name: str
    parse: Callable[[str], Any]
    allowed: str
    help: str


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _ranged(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise Invalid from None
        if not low <= value <= high:
            raise Invalid
        return value

    return parse


def integer(name: str, low: int, high: int, help: str) -> Option:
    """An integer option within ``low..high``."""
    return Option(name, _ranged(int, low, high), f"an integer {low}..{high}", help)


def number(name: str, low: float, high: float, help: str) -> Option:
    """A number option within ``low..high``."""
    return Option(name, _ranged(float, low, high), f"a number {_shown(low)}..{_shown(high)}", help)


def seconds(name: str, low: float, high: float, help: str) -> Option:
    """A duration in seconds within ``low..high``."""
    return Option(name, _ranged(float, low, high), f"seconds {_shown(low)}..{_shown(high)}", help)


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise Invalid
        return text.lower()

    return parse


def _switch(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("on", "true", "1"):
        return True
    if lowered in ("off", "false", "0"):
        return False
    raise Invalid


def switch(name: str, help: str) -> Option:
    """An on/off option."""
    return Option(name, _switch, "on or off", help)


def _text(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not 0 < len(text) <= max_length or any(c.isspace() for c in text):
            raise Invalid
        return text

    return parse


def text(name: str, max_length: int, allowed: str, help: str) -> Option:
    """A string of 1..``max_length`` characters without whitespace."""
    return Option(name, _text(max_length), allowed, help)


def _redis_url(value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise Invalid
    return value


def _addresses(value: str) -> str:
    """``HOST:PORT[,HOST:PORT...]``, kept as given."""
    for entry in value.split(","):
        host, _, port = entry.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise Invalid
    return value


def _networks(value: str) -> str:
    """A comma-separated list of CIDR networks, kept as given (checked here)."""
    import ipaddress

    try:
        for entry in value.split(","):
            ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise Invalid from None
    return value


ADDRESSES = "HOST:PORT[,HOST:PORT...]"
OPTIONS: tuple[Option, ...] = (
    text("host", 255, "a host name or IP address", "address to listen on"),
    integer("port", 0, 65535, "HTTP port (0: any free)"),
    integer(
        "ops_port", 0, 65535, "extra port for /healthz, /readyz and /metrics only (unset: none)"
    ),
    Option(
        "redis_url",
        _redis_url,
        "a redis://, rediss:// or unix:// URL",
        "standalone Redis; with no Redis option an embedded development server starts",
    ),
    Option("redis_sentinel", _addresses, ADDRESSES, "Sentinels that find the Redis primary"),
    text("redis_sentinel_service", 255, "a name without spaces", "Sentinel service name"),
    Option("redis_cluster", _addresses, ADDRESSES, "seed nodes of a Redis Cluster"),
    Option("redis_password", str, "a string", "Redis password (prefer the environment variable)"),
    integer("redis_wait_replicas", 0, 16, "replicas that must have a write before it is answered"),
    seconds("redis_timeout", 0.05, 30, "Redis connect and command timeout"),
    text("node_id", 64, "1..64 characters, no spaces", "node identity in Redis"),
    Option("log_level", _choice(LOG_LEVELS), "one of " + ", ".join(LOG_LEVELS), "log level"),
    Option("log_format", _choice(LOG_FORMATS), "json or text", "log line format"),
    seconds(
        "log_summary_interval",
        1,
        3600,
        "period of the summary log line (connections, channels, notifications by outcome)",
    ),
    Option("api_keys_file", str, "a file path", "API keys of application servers (unset: open)"),
    Option("device_jwt_key", str, "a file path", "key that signs device tokens (unset: open)"),
    text("device_jwt_audience", 255, "a string without spaces", "required aud of device tokens"),
    text("device_jwt_issuer", 255, "a string without spaces", "required iss of device tokens"),
    seconds("ping_interval", 1, 3600, "websocket ping period"),
    switch(
        "ws_compression",
        "accept permessage-deflate when a client offers it (about 90 KiB more per connection)",
    ),
    integer("max_frame_bytes", 1024, 16 << 20, "largest accepted websocket message (1009 beyond)"),
    integer("inflight_window", 1, 10000, "unacknowledged notifications per channel"),
    integer("max_applications", 1, 10000, "applications per client"),
    integer("max_pending", 1, 1_000_000, "pending notifications per client (429 beyond)"),
    integer("max_connections", 1, 1_000_000, "connections per node (upgrade gets 503 beyond)"),
    number("connect_rate", 1, 1_000_000, "new websockets per second per node"),
    number("request_rate", 0.1, 1_000_000, "requests per second per connection (burst: twice)"),
    number("address_connect_rate", 0.1, 1_000_000, "new connections per second per address"),
    number("address_register_rate", 0.1, 1_000_000, "registrations per second per address"),
    Option(
        "trusted_proxies",
        _networks,
        "CIDRs, comma-separated",
        "proxies whose X-Forwarded-For counts",
    ),
    seconds("identify_timeout", 1, 3600, "a websocket must register or activate within this"),
    seconds("header_timeout", 1, 300, "time to send an HTTP request line and headers"),
    seconds("body_timeout", 1, 3600, "time to send an HTTP request body"),
    seconds("keepalive_timeout", 1, 3600, "idle time of an HTTP keep-alive connection"),
    seconds("write_timeout", 1, 3600, "a write making no progress this long closes the connection"),
    integer("max_header_bytes", 1024, 1 << 20, "largest HTTP request head (line and headers)"),
    integer("max_body_bytes", 1024, 64 << 20, "largest HTTP request body, after decompression"),
    integer("max_body_memory", 1 << 20, 1 << 32, "request body bytes held by the node at once"),
    seconds("registration_ttl", 1, 3650 * DAY, "a client not seen this long is removed"),
    seconds("drain_window", 0, 3600, "on SIGTERM, spread websocket closes over this window"),
    seconds("drain_grace", 1, 3600, "on SIGTERM, exit within this"),
    seconds("catchup_interval", 0.1, 60, "period of the check for lost doorbells"),
    seconds("liveness_ttl", 1, 30, "a dead node's channels stop counting after this"),
    seconds("status_retention", 60, 30 * DAY, "how long a final status stays readable"),
    switch("console", "serve the web console at /console"),
)
