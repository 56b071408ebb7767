"""A node started without --redis-url runs its own embedded valkey-server and cleans it up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.bench.nodeprocess import http_status, read_log_lines
from gateway.client import Device
from tests.conftest import START_TIMEOUT, device_number, wait_for

SOCKET_DIR = re.compile(r"unix://(?P<dir>/\S*?aoi-valkey-[^/\s]+)/")


def find(path: Path, predicate: Any) -> dict[str, Any] | None:
    return next((line for line in read_log_lines(path) if predicate(line)), None)


def is_directory(path: str) -> bool:
    return Path(path).is_dir()


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live valkey-server processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "valkey-server" in cmdline and text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def embedded_node(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOI_")}
    env["PYTHONUNBUFFERED"] = "1"
    log_path = tmp_path / "embedded.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", "0"),
                *("--log-format", "json", "--drain-window", "0.5"),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        yield process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def test_embedded_redis(embedded_node, http) -> None:
    process, log_path = embedded_node

    def ready() -> dict[str, Any] | None:
        assert process.poll() is None, log_path.read_text()[-2000:]
        return find(log_path, lambda line: line.get("message", "").startswith("ready on"))

    ready_line = await wait_for(ready, START_TIMEOUT)
    port = int(ready_line["port"])
    embedded = find(log_path, lambda line: "embedded" in line.get("message", ""))
    assert embedded is not None and embedded["level"] == "warning"
    match = SOCKET_DIR.search(embedded["message"])
    assert match is not None, embedded
    directory = match.group("dir")
    assert is_directory(directory)
    assert str(port) in ready_line["message"]
    assert ready_line["redis"] in ready_line["message"]
    assert directory in ready_line["redis"]
    open_api = find(log_path, lambda line: "API is open" in line.get("message", ""))
    assert open_api is not None and open_api["level"] == "warning"
    assert processes_mentioning(directory), "the embedded valkey-server is not running"

    base = f"http://127.0.0.1:{port}"
    assert await wait_for(lambda: http_status(base + "/readyz") == 200, START_TIMEOUT)
    device = await Device.connect(base + "/ws", session=http)
    try:
        client_id = await device.register(device_number())
        await device.activate(client_id)
        assert await device.register_application(client_id, "com.example.dev")
    finally:
        await device.close()

    process.send_signal(signal.SIGTERM)
    assert await wait_for(lambda: process.poll() is not None, 25)
    assert process.returncode == 0, log_path.read_text()[-2000:]
    assert processes_mentioning(directory) == []
    assert not is_directory(directory)
    assert find(log_path, lambda line: line.get("level") in ("error", "critical")) is None
