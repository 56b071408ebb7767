"""Read the operations assets: alert rules, dashboard queries, metric names.

A functional test against a running node can compare ``metric_names()`` with
``exposed_sample_names(text_of_/metrics)`` (leaving out ``up``, which
Prometheus makes itself).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = REPO / "helm" / "aoi-gateway"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "aoi-gateway.json"

# What a node exports (the contract), as metric family names.
NODE_METRICS = frozenset(
    {
        "aoi_connections",
        "aoi_channels_active",
        "aoi_requests_total",
        "aoi_request_duration_seconds",
        "aoi_protocol_errors_total",
        "aoi_notifications_total",
        "aoi_delivery_latency_seconds",
        "aoi_http_requests_total",
        "aoi_redis_errors_total",
        "aoi_redis_failovers_total",
        "aoi_redis_wait_shortfalls_total",
        "aoi_bus_resubscribes_total",
        "aoi_ready",
        "aoi_draining",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    }
)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_METRIC = re.compile(r"(?<![\w:$])(aoi_\w+|process_\w+|up)(?![\w:])")
# Grafana's built-in and template variables, replaced by something PromQL parses.
_GRAFANA_VAR = re.compile(r"\$\{?(__rate_interval|__interval|__range)\}?|\$\{?(\w+)(?::\w+)?\}?")


def alert_rules(path: Path = ALERTS) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        # Collapsed rows keep their panels inside.
        yield from panel.get("panels", [])


def dashboard_panels(path: Path = DASHBOARD) -> list[dict[str, Any]]:
    return list(_panels(json.loads(path.read_text())))


def dashboard_exprs(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    """(panel title, raw expr) of every query target."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in dashboard_panels(path)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def substitute_grafana_vars(expr: str) -> str:
    """Make a dashboard query plain PromQL: intervals become 5m, variables `.*`."""

    def repl(match: re.Match[str]) -> str:
        return "5m" if match.group(1) else ".*"

    return _GRAFANA_VAR.sub(repl, expr)


def metric_names_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression, crudely: aoi_*, process_* and up,
    outside string literals."""
    return set(_METRIC.findall(_STRING.sub('""', expr)))


def metric_names(alerts: Path = ALERTS, dashboard: Path = DASHBOARD) -> set[str]:
    """Every metric (sample) name the alert rules and the dashboard query."""
    names: set[str] = set()
    for rule in alert_rules(alerts):
        names |= metric_names_in(str(rule["expr"]))
    for _title, expr in dashboard_exprs(dashboard):
        names |= metric_names_in(expr)
    return names


def family_of(sample_name: str) -> str:
    """The metric family of a sample name (histogram series lose their suffix)."""
    for suffix in HISTOGRAM_SUFFIXES:
        if sample_name.endswith(suffix):
            return sample_name[: -len(suffix)]
    return sample_name


def exposed_sample_names(exposition: str) -> set[str]:
    """Sample names in a Prometheus text exposition (a node's /metrics body)."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names
