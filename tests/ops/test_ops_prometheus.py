"""Alert rules, dashboard queries and the Prometheus config, checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.ops.assets import (
    ALERTS,
    DASHBOARD,
    DEPLOY,
    alert_rules,
    dashboard_panels,
    substitute_grafana_vars,
)

REQUIRED_ALERTS = {
    "AoiNodeDown",
    "AoiRedisErrors",
    "AoiHighErrorRatio",
    "AoiDeliveryLatencyHigh",
    "AoiExpiredNotificationsRising",
    "AoiReadinessFlapping",
}


def _promtool(promtool: Path, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_alert_rules_pass_promtool(promtool_bin: Path) -> None:
    out = _promtool(promtool_bin, "check", "rules", str(ALERTS))
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_alert_rules_unit_tests(promtool_bin: Path) -> None:
    _promtool(promtool_bin, "test", "rules", str(DEPLOY / "prometheus" / "alerts_test.yml"))


def test_every_alert_is_tested() -> None:
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert {rule["alert"] for rule in alert_rules()} <= tested


def test_alert_rules_are_complete() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED_ALERTS
    for rule in rules:
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


def test_prometheus_config(promtool_bin: Path, tmp_path: Path) -> None:
    # Checked from a copy, so the rule file resolves exactly as Prometheus in compose sees it.
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        shutil.copy(DEPLOY / "prometheus" / rule_file, tmp_path / rule_file)
    shutil.copy(DEPLOY / "prometheus" / "prometheus.yml", tmp_path / "prometheus.yml")
    out = _promtool(promtool_bin, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(config['rule_files'])} rule files found" in out


def test_dashboard_queries_parse(promtool_bin: Path, tmp_path: Path) -> None:
    """Every panel query, variables substituted, as a recording rule promtool parses."""
    rules = []
    for panel in dashboard_panels(DASHBOARD):
        for target in panel.get("targets", []):
            expr = substitute_grafana_vars(target["expr"])
            assert "$" not in expr, (panel["title"], expr)
            rules.append(
                {"record": f"dashboard:panel_{panel['id']}:{target['refId']}", "expr": expr}
            )
    assert rules
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = _promtool(promtool_bin, "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in out


def test_dashboard_variable_queries_parse(promtool_bin: Path, tmp_path: Path) -> None:
    """label_values(<selector>, label): the selector must be valid PromQL."""
    dashboard = yaml.safe_load(DASHBOARD.read_text())
    rules = []
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        assert query.startswith("label_values(") and query.endswith(")")
        selector = query.removeprefix("label_values(").removesuffix(")").rsplit(",", 1)[0]
        rules.append(
            {"record": f"dashboard:var_{var['name']}", "expr": substitute_grafana_vars(selector)}
        )
    path = tmp_path / "dashboard-vars.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "vars", "rules": rules}]}))
    _promtool(promtool_bin, "check", "rules", str(path))
