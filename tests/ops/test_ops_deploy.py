"""deploy/: compose stack, nginx, Prometheus targets, Grafana provisioning, Dockerfile.

No Docker engine here, so these check the files against each other.
"""

from __future__ import annotations

import re

import yaml

from tests.ops.assets import DEPLOY, REPO

COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
GATEWAYS = sorted(name for name in SERVICES if name.startswith("gateway-"))
DRAIN_GRACE_DEFAULT = 20


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


def test_compose_services() -> None:
    assert {"redis", "nginx", "prometheus", "grafana"} <= set(SERVICES)
    assert len(GATEWAYS) == 3
    node_ids = set()
    for name in GATEWAYS:
        gateway = SERVICES[name]
        env = gateway["environment"]
        # Never the embedded dev Redis: all nodes share one.
        assert env["AOI_REDIS_URL"].startswith("redis://redis:")
        node_ids.add(env["AOI_NODE_ID"])
        assert gateway["read_only"] is True
        assert _seconds(gateway["stop_grace_period"]) > DRAIN_GRACE_DEFAULT
        assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert len(node_ids) == 3
    assert any("build" in SERVICES[name] for name in GATEWAYS)
    assert SERVICES[GATEWAYS[0]]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / SERVICES[GATEWAYS[0]]["build"]["context"]).resolve() == REPO


def test_compose_mounts_exist_and_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)


def test_prometheus_scrapes_every_gateway() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "aoi-gateway"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:8080" for name in GATEWAYS}
    mounts = SERVICES["prometheus"]["volumes"]
    for rule_file in config["rule_files"]:
        assert any(m.endswith(f"/etc/prometheus/{rule_file}:ro") for m in mounts)


def test_nginx_balances_every_gateway_and_upgrades_websockets() -> None:
    conf = (DEPLOY / "nginx" / "nginx.conf").read_text()
    servers = set(re.findall(r"^\s*server\s+([\w.-]+:\d+)", conf, re.M))
    assert servers == {f"{name}:8080" for name in GATEWAYS}
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_http_version 1.1;" in conf
    read_timeout = re.search(r"proxy_read_timeout\s+(\d+)([smh]?);", conf)
    assert read_timeout
    value = int(read_timeout.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[read_timeout.group(2)]
    assert value > 60  # well above the node's 30 s ping interval
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in SERVICES["nginx"]["volumes"]


def test_grafana_provisioning() -> None:
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/aoi-gateway.yaml").read_text()
    )
    (provider,) = providers["providers"]
    path = provider["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in SERVICES["grafana"]["volumes"]
    assert (DEPLOY / "grafana" / "dashboards" / "aoi-gateway.json").exists()


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert len(stages) >= 2, "multi-stage"
    assert stages[-1][0] == "python:3.11-slim"
    final = text[text.rindex("\nFROM ") :]
    assert re.search(r"^COPY --from=builder ", final, re.M)
    # Nothing compiles or installs packages in the runtime stage.
    assert not re.search(r"apt-get|gcc|build-essential|pip install", final)
    user = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert user and user[-1].split(":")[0] not in {"0", "root"}
    assert user[-1].split(":")[0].isdigit(), "numeric, for runAsNonRoot"
    assert re.search(r'^ENTRYPOINT \["aoi-gateway"\]$', final, re.M)
    assert re.search(r"^EXPOSE 8080$", final, re.M)


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("gateway", "pyproject.toml", "README.md"):
        assert needed not in patterns and f"/{needed}" not in patterns
    assert ".git" in patterns and ".venv" in patterns
