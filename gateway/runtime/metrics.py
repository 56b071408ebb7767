"""Prometheus metrics of a node: one namespace, bounded label sets only."""

from __future__ import annotations

from functools import cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # type: ignore[no-untyped-call]

OUTCOMES = ("accepted", "sent", "delivered", "rejected", "expired", "cancelled")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600)

CONNECTIONS = Gauge("aoi_connections", "Open websocket connections on this node")
CHANNELS_ACTIVE = Gauge("aoi_channels_active", "Active notification channels on this node")
REQUESTS = Counter(
    "aoi_requests", "AOI-1 requests answered, by type and code", ["message_type", "code"]
)
REQUEST_DURATION = Histogram(
    "aoi_request_duration_seconds",
    "Time to answer an AOI-1 request",
    ["message_type"],
    buckets=_LATENCY_BUCKETS,
)
PROTOCOL_ERRORS = Counter(
    "aoi_protocol_errors", "Frames refused before reaching a procedure, by reason", ["reason"]
)
NOTIFICATIONS = Counter("aoi_notifications", "Notification state changes, by outcome", ["outcome"])
DELIVERY_LATENCY = Histogram(
    "aoi_delivery_latency_seconds",
    "Time from acceptance to acknowledgement",
    buckets=_LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "aoi_http_requests", "HTTP requests answered, by route and code", ["route", "code"]
)
TCP_CONNECTIONS = Gauge(
    "aoi_tcp_connections", "Open TCP connections, counted from accept, by listener", ["listener"]
)
REFUSED = Counter(
    "aoi_connections_refused",
    "Connections answered 503 at accept, by reason (connections, address_rate)",
    ["reason"],
)
CLOSED = Counter(
    "aoi_connections_closed",
    "Connections closed by a limit, by reason (header_timeout, write_timeout, identify_timeout)",
    ["reason"],
)
REGISTRATIONS_EXPIRED = Counter(
    "aoi_registrations_expired", "Clients removed after --registration-ttl without being seen"
)
REDIS_DATA_LOSS = Counter(
    "aoi_redis_data_loss", "Times this node found that Redis had lost its data (marker gone)"
)
REDIS_ERRORS = Counter("aoi_redis_errors", "Redis commands that failed or timed out")
AUTH_FAILURES = Counter(
    "aoi_auth_failures",
    "Requests refused for their credential, by kind (api, device) and reason",
    ["kind", "reason"],
)
REDIS_FAILOVERS = Counter(
    "aoi_redis_failovers", "Changes of a Redis primary this node followed (Sentinel or Cluster)"
)
REDIS_WAIT_SHORTFALLS = Counter(
    "aoi_redis_wait_shortfalls",
    "Answers refused because fewer replicas than --redis-wait-replicas acknowledged in time",
)
BUS_RESUBSCRIBES = Counter(
    "aoi_bus_resubscribes", "Times the node bus listener subscribed again after losing its channel"
)
READY = Gauge("aoi_ready", "1 when the node reports ready")
DRAINING = Gauge("aoi_draining", "1 while the node drains")

_BY_OUTCOME = {outcome: NOTIFICATIONS.labels(outcome) for outcome in OUTCOMES}
# Every series exists from the start, so that rates and alerts see the first failure.
AUTH_REASONS = {
    "api": ("missing", "invalid", "scope"),
    "device": ("missing", "invalid", "expired", "device"),
}
_AUTH_SERIES = {
    (kind, reason): AUTH_FAILURES.labels(kind, reason)
    for kind, reasons in AUTH_REASONS.items()
    for reason in reasons
}


def auth_failure(kind: str, reason: str) -> None:
    """Count one request refused for its credential (contract clarification 20)."""
    _AUTH_SERIES[kind, reason].inc()


# The same counts as plain integers: read for the node's rates and log summary.
_TOTALS = dict.fromkeys(OUTCOMES, 0)


def count(outcome: str, amount: int = 1) -> None:
    """Count ``amount`` notifications reaching ``outcome``."""
    if amount:
        _BY_OUTCOME[outcome].inc(amount)
        _TOTALS[outcome] += amount


def notification_totals() -> dict[str, int]:
    """Notifications by outcome since the process started."""
    return dict(_TOTALS)


@cache
def _request_series(message_type: str, code: int) -> tuple[Counter, Histogram]:
    return REQUESTS.labels(message_type, str(code)), REQUEST_DURATION.labels(message_type)


def observe_request(message_type: str, code: int, seconds: float) -> None:
    """Count one answered AOI-1 request (label children are looked up once)."""
    counter, histogram = _request_series(message_type, code)
    counter.inc()
    histogram.observe(seconds)


@cache
def _http_series(route: str, code: int) -> Counter:
    return HTTP_REQUESTS.labels(route, str(code))


def observe_http(route: str, code: int) -> None:
    """Count one HTTP answer; ``route`` is a route pattern, so the label set is bounded."""
    _http_series(route, code).inc()


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
