"""The JavaScript client (gateway/console/static/aoi-client.js) under Node, against real nodes.

Starts two nodes on the session's Redis and runs ``aoi-client.test.mjs`` with Node's
test runner. The script asks for signals through files in a control folder
(``signal-<index>`` holding a signal name); this wrapper sends them with
``NodeProcess.signal`` and deletes the file.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import NodeProcess

SCRIPT = Path(__file__).with_name("aoi-client.test.mjs")
RUN_TIMEOUT = 150.0
_SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}


def _node_binary() -> str:
    """The ``node`` executable, 20 or newer; the test is skipped without one."""
    binary = shutil.which("node")
    if binary is None:
        pytest.skip("node is not installed")
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < 20:
        pytest.skip(f"needs Node 20 or newer, found {version.strip()}")
    return binary


def _serve_signal_requests(control: Path, nodes: list[NodeProcess]) -> None:
    for request in control.glob("signal-*"):
        index = int(request.name.removeprefix("signal-"))
        name = request.read_text().strip()
        nodes[index].signal(_SIGNALS[name])
        request.unlink()


def _run(command: list[str], env: dict[str, str], control: Path, nodes: list[NodeProcess]) -> str:
    """Run the Node tests, serving their signal requests; their output (killed at the deadline)."""
    output = control / "node-test.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"node tests still running after {RUN_TIMEOUT} s")
                _serve_signal_requests(control, nodes)
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    text = output.read_text(errors="replace")
    assert process.returncode == 0, f"node tests failed ({process.returncode}):\n{text}"
    return text


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_js_client(start_node: Callable[..., NodeProcess], tmp_path: Path) -> None:
    binary = _node_binary()
    nodes = [start_node(), start_node(drain_window=0.5, drain_grace=5)]
    control = tmp_path / "control"
    control.mkdir()
    env = {
        **os.environ,
        "AOI_NODE_URLS": ",".join(node.url for node in nodes),
        "AOI_TEST_CONTROL": str(control),
    }
    command = [binary, "--experimental-websocket", "--test", str(SCRIPT)]
    try:
        text = _run(command, env, control, nodes)
    except AssertionError:
        for node in nodes:
            print(f"--- log of node {node.node_id} ---")
            print(node.log_path.read_text(errors="replace")[-20000:])
        raise
    assert re.search(r"^# fail 0$", text, re.MULTILINE), text
    assert not re.search(r"^# pass 0$", text, re.MULTILINE), text
    for name in ("reconnects to the other node", "console endpoints"):
        ran = re.search(rf"^ *ok \d+ - {name}.*$", text, re.MULTILINE)
        assert ran is not None and "# SKIP" not in ran.group(0), (name, text)
