#!/usr/bin/env python3
"""Take the README's screenshot of the console (docs/console.png) from a real fleet.

Usage: ``.venv/bin/python scripts/console_screenshot.py [PATH]``. Starts a
valkey-server and two nodes on loopback, opens the device page in headless
Chromium (the browser tests' tooling), registers a device and an application,
sends from the console's form until it shows ``delivered``, looks the client up,
and saves the console page.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.bench.nodeprocess import NodeProcess, free_port  # noqa: E402
from gateway.node.embedded import EmbeddedRedis  # noqa: E402
from tests.console.browser import (  # noqa: E402
    Pages,
    by_testid,
    chromium,
    chromium_missing,
    connect_device,
    register_application,
    send_from_console,
    wait_for_notification,
)

SETTLE_SECONDS = 2.5  # two node-list refreshes, so the rates show the sends


def shoot(nodes: list[NodeProcess], target: Path) -> None:
    with chromium() as browser:
        pages = Pages(browser)
        device = pages.open("device", f"{nodes[0].url}/console/device")
        console = pages.open("console", f"{nodes[1].url}/console")
        connect_device(device, "5465465416846865465")
        registration_id = register_application(device, "com.example.mail")
        by_testid(device, "auto-ack").check()
        for text in ("you have mail", "meeting at 10", "build passed"):
            send_from_console(console, registration_id, text)
            wait_for_notification(device, text)
            console.wait_for_selector('[data-testid="send-status"][data-status="delivered"]')
        by_testid(console, "client-by-number").check()
        by_testid(console, "client-query").fill("5465465416846865465")
        by_testid(console, "client-submit").click()
        console.wait_for_selector('[data-testid="client-channel"][data-active="true"]')
        time.sleep(SETTLE_SECONDS)
        console.screenshot(path=str(target), full_page=True)
        pages.close()


def main() -> None:
    missing = chromium_missing()
    if missing is not None:
        sys.exit(f"console_screenshot: {missing}")
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "console.png"
    redis = EmbeddedRedis(port=free_port())
    redis.start()
    logs = Path(tempfile.mkdtemp(prefix="aoi-screenshot-"))
    nodes = [NodeProcess(redis.url, logs, f"node-{name}") for name in ("a", "b")]
    try:
        for node in nodes:
            node.start()
        shoot(nodes, target)
    finally:
        for node in nodes:
            node.stop()
        redis.remove()
    print(f"saved {target}")


if __name__ == "__main__":
    main()
