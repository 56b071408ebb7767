"""Fixtures for the operations tests: the tools, and the chart rendered per variant."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# `tests.ops.*` must import whatever pytest's import mode.
_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests.ops import tools  # noqa: E402
from tests.ops.chart import VARIANTS, Helm, values_args  # noqa: E402


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _need(find: Callable[[], Path]) -> Path:
    """The tool, or a skip; in CI a missing tool is a failure, never a skip."""
    try:
        return find()
    except tools.ToolUnavailable as exc:
        if _in_ci():
            pytest.fail(f"required in CI: {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def promtool_bin() -> Path:
    return _need(tools.promtool)


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return _need(tools.helm)


@pytest.fixture(scope="session")
def helm(helm_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, tmp_path_factory.mktemp("helm-home"))


_rendered: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


@pytest.fixture
def manifests(helm: Helm, variant: str) -> list[dict[str, Any]]:
    """The chart rendered with one values variant (rendered once per session)."""
    if variant not in _rendered:
        _rendered[variant] = helm.render(*values_args(variant))
    return _rendered[variant]
