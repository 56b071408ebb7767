"""The metric names the dashboard and alerts use, and the dashboard's structure."""

from __future__ import annotations

import json

from tests.ops.assets import (
    DASHBOARD,
    NODE_METRICS,
    dashboard_exprs,
    dashboard_panels,
    exposed_sample_names,
    family_of,
    metric_names,
    metric_names_in,
    substitute_grafana_vars,
)


def test_metric_names_in_parses_crudely_but_right() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le) "
        '(rate(aoi_delivery_latency_seconds_bucket{route="aoi_x", '
        'instance=~"$instance"}[$__rate_interval]))) > on (up) process_open_fds or up == 0'
    )
    assert metric_names_in(expr) == {
        "aoi_delivery_latency_seconds_bucket",
        "process_open_fds",
        "up",
    }
    assert metric_names_in("vector(0) + group_left(setup) foo") == set()


def test_metric_names_of_the_files() -> None:
    assert metric_names() == {
        "up",
        "aoi_connections",
        "aoi_channels_active",
        "aoi_requests_total",
        "aoi_request_duration_seconds_bucket",
        "aoi_protocol_errors_total",
        "aoi_notifications_total",
        "aoi_delivery_latency_seconds_bucket",
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


def test_only_exported_metrics_are_used() -> None:
    used = {family_of(name) for name in metric_names()} - {"up"}
    assert used <= NODE_METRICS, used - NODE_METRICS


def test_exposed_sample_names_and_families() -> None:
    text = (
        "# HELP aoi_connections Open websockets.\n"
        "# TYPE aoi_connections gauge\n"
        "aoi_connections 3.0\n"
        'aoi_requests_total{message_type="ack",code="200"} 5.0\n'
        'aoi_delivery_latency_seconds_bucket{le="0.1"} 1.0\n'
        "aoi_delivery_latency_seconds_count 1.0\n"
        "process_open_fds 12.0\n"
    )
    names = exposed_sample_names(text)
    assert names == {
        "aoi_connections",
        "aoi_requests_total",
        "aoi_delivery_latency_seconds_bucket",
        "aoi_delivery_latency_seconds_count",
        "process_open_fds",
    }
    assert {family_of(n) for n in names} == {
        "aoi_connections",
        "aoi_requests_total",
        "aoi_delivery_latency_seconds",
        "process_open_fds",
    }


def test_substitute_grafana_vars() -> None:
    expr = 'rate(x{instance=~"$instance", job=~"${job}"}[$__rate_interval]) + y[${__interval}]'
    assert substitute_grafana_vars(expr) == 'rate(x{instance=~".*", job=~".*"}[5m]) + y[5m]'


def test_dashboard_structure() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        # A fixed datasource uid would break on any other Grafana.
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["refId"]


def test_dashboard_covers_the_required_views() -> None:
    exprs = [expr for _title, expr in dashboard_exprs()]

    def has(*needles: str) -> bool:
        return any(all(n in e for n in needles) for e in exprs)

    assert has("aoi_connections", "by (instance)")
    assert has("aoi_channels_active", "by (instance)")
    assert has("aoi_requests_total", "by (message_type, code)")
    assert has("histogram_quantile(0.5", "aoi_request_duration_seconds_bucket")
    assert has("histogram_quantile(0.99", "aoi_request_duration_seconds_bucket")
    assert has("aoi_notifications_total", "by (outcome)", "rate(")
    assert has("histogram_quantile(0.5", "aoi_delivery_latency_seconds_bucket")
    assert has("histogram_quantile(0.99", "aoi_delivery_latency_seconds_bucket")
    assert has("rate(aoi_redis_errors_total")
    assert has("aoi_protocol_errors_total", "by (reason)")
    assert has("process_resident_memory_bytes", "by (instance)")
    assert has("rate(process_cpu_seconds_total", "by (instance)")
    # Counters are always read as rates, never raw.
    for expr in exprs:
        for name in metric_names_in(expr):
            if name.endswith(("_total", "_bucket")):
                assert f"rate({name}" in expr, expr
