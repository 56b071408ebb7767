"""Browser fixtures: one headless Chromium per module, pages screenshotted on failure."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.browser import Pages, chromium, chromium_missing

# Screenshots of failed browser tests (not committed: see .gitignore).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = chromium_missing()
    if missing is not None:
        pytest.skip(missing)
    with chromium() as launched:
        yield launched


@pytest.fixture
def pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[Pages]:
    """A fresh browser context; on failure every page is saved as a PNG under
    test-artifacts/browser/<test>/, and the folder is named in the report."""
    opened = Pages(browser)
    yield opened
    if request.node.stash.get(_FAILED, False):
        folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
        saved = opened.screenshots(folder)
        request.node.add_report_section("teardown", "screenshots", "\n".join(map(str, saved)))
        print(f"screenshots of the failed test's pages: {folder}")
    opened.close()
