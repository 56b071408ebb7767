"""Prometheus metrics of a node: one namespace, bounded label sets only."""

from __future__ import annotations

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
REDIS_ERRORS = Counter("aoi_redis_errors", "Redis commands that failed or timed out")
READY = Gauge("aoi_ready", "1 when the node reports ready")
DRAINING = Gauge("aoi_draining", "1 while the node drains")

for _outcome in OUTCOMES:
    NOTIFICATIONS.labels(_outcome)


def count(outcome: str, amount: int = 1) -> None:
    """Count ``amount`` notifications reaching ``outcome``."""
    if amount:
        NOTIFICATIONS.labels(outcome).inc(amount)


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
