"""Running helm on the chart: release, namespace, values variants."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.ops.assets import CHART

RELEASE = "rel"
NAMESPACE = "push"


class Helm:
    """helm with its config, cache and data kept out of the user's home."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.env = dict(os.environ)
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            self.env[var] = str(home / var.lower())

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )

    def template(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)

    def render(self, *args: str) -> list[dict[str, Any]]:
        """The manifests of `helm template`, which must succeed."""
        result = self.template(*args)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def values_args(variant: str) -> list[str]:
    """`chart` is the chart as shipped; any other name is ci/<name>-values.yaml."""
    return [] if variant == "chart" else ["-f", str(CHART / "ci" / f"{variant}-values.yaml")]


VARIANTS = [
    "chart",
    *sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml")),
]
