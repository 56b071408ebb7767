"""The operations assets against running nodes: exported metrics and a real Prometheus."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gateway.client import AppServer, Device
from tests.conftest import device_number, free_port, wait_until
from tests.ops import assets, tools
from tests.ops.conftest import _need


@pytest.fixture(scope="session")
def prometheus_bin() -> Path:
    return _need(tools.prometheus)


async def test_every_metric_in_dashboard_and_alerts_is_exported(node, http) -> None:
    device = await Device.connect(node.ws_url, session=http)
    try:
        await device.register(device_number())
        await device.send_text("not json")
        await device.request({"messageType": "aoiClientRegistrationReq"}, timeout=5)
    finally:
        await device.close()
    await AppServer(node.url, http).send("unknown", "x")
    async with http.get(node.url + "/metrics") as response:
        samples = assets.exposed_sample_names(await response.text())
    exposed = samples | {assets.family_of(name) for name in samples}
    used = assets.metric_names() - {"up"}
    assert used <= exposed, used - exposed


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


def test_prometheus_scrapes_two_nodes(start_node, prometheus_bin: Path, tmp_path: Path) -> None:
    nodes = [start_node(), start_node()]
    targets = ", ".join(f"'127.0.0.1:{node.port}'" for node in nodes)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: aoi-gateway\n    static_configs:\n"
        f"      - targets: [{targets}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            str(prometheus_bin),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path}/data",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:

        def both_up() -> bool:
            try:
                active = _get(api + "/targets")["data"]["activeTargets"]
            except OSError:
                return False
            return len(active) == 2 and all(t["health"] == "up" for t in active)

        wait_until(both_up, timeout=30, interval=0.2)

        def series_per_node() -> set[str]:
            result = _get(api + "/query?query=aoi_connections")["data"]["result"]
            return {series["metric"]["instance"] for series in result}

        expected = {f"127.0.0.1:{node.port}" for node in nodes}
        assert wait_until(lambda: series_per_node() == expected, timeout=30, interval=0.2)
    finally:
        process.terminate()
        process.wait(10)
