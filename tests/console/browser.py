"""Headless Chromium for the console's tests (and the README's screenshot), driven by
playwright against Debian's ``chromium``: no browser is downloaded."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000
GATEWAY_ID = re.compile(r"^[A-Za-z0-9_-]{33}$")
# Console messages that report a network failure (a node the test stopped), not a bug.
_NETWORK = ("Failed to load resource", "WebSocket connection to")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed (.ci/install-browser installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium with a fresh profile (playwright's own temporary one)."""
    from playwright.sync_api import expect as playwright_expect
    from playwright.sync_api import sync_playwright

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class Pages:
    """Pages of one browser context, each with its console errors collected."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.opened: dict[str, Any] = {}
        self.errors: list[str] = []

    def open(self, name: str, url: str) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{name}: {error}"))
        page.on("console", lambda message: self._on_console(name, message))
        page.goto(url)
        self.opened[name] = page
        return page

    def _on_console(self, name: str, message: Any) -> None:
        if message.type == "error" and not message.text.startswith(_NETWORK):
            self.errors.append(f"{name}: {message.text}")

    def screenshots(self, folder: Path) -> list[Path]:
        """Save a full-page screenshot of every open page into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for name, page in self.opened.items():
            path = folder / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        return saved

    def close(self) -> None:
        self.context.close()


def expect(locator: Any) -> Any:
    """playwright's ``expect`` (imported late: the module is optional where chromium is not)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def by_testid(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid="{name}"]')


def connect_device(page: Any, device_number: str) -> str:
    """On the device page: register ``device_number`` and activate; returns the clientID."""
    by_testid(page, "device-number").fill(device_number)
    by_testid(page, "device-connect").click()
    page.wait_for_selector('[data-testid="device-state"][data-state="open"]')
    client_id = by_testid(page, "device-client-id")
    expect(client_id).to_have_text(GATEWAY_ID)
    return str(client_id.text_content())


def register_application(page: Any, application_id: str) -> str:
    """On the device page: register an application; returns its registrationID."""
    by_testid(page, "app-id").fill(application_id)
    by_testid(page, "app-register").click()
    row = page.locator(f'[data-testid="app-row"][data-application-id="{application_id}"]')
    row.wait_for()
    return str(row.get_attribute("data-registration-id"))


def send_from_console(page: Any, registration_id: str, payload: str) -> str:
    """On the console: send with the form; returns the notificationID shown."""
    by_testid(page, "send-registration-id").fill(registration_id)
    by_testid(page, "send-payload").fill(payload)
    shown = by_testid(page, "send-notification-id")
    before = shown.text_content()
    by_testid(page, "send-submit").click()
    # Waits run in playwright's own world: the page's CSP (no eval) does not apply there.
    expect(shown).to_have_text(GATEWAY_ID)
    expect(shown).not_to_have_text(before or "-")
    return str(shown.text_content())


def wait_for_notification(page: Any, payload: str) -> Any:
    """On the device page: the row of the notification with ``payload``, once shown."""
    row = page.locator('[data-testid="notification-row"]', has_text=payload)
    row.wait_for()
    return row
