"""A port already in use: one line naming it, exit status 1, nothing half-started."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("redis", ["given", "embedded"])
def test_a_port_in_use_is_one_line_and_exit_1(node, redis) -> None:
    command = [sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", str(node.port)]
    if redis == "given":
        command += ["--redis-url", node.redis_url]
    ended = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert ended.returncode == 1
    lines = (ended.stdout + ended.stderr).splitlines()
    assert len(lines) == 1, lines  # no traceback, no embedded Redis, no "node bus lost"
    line = json.loads(lines[0])
    assert line["level"] == "error"
    assert line["message"] == f"cannot listen on 127.0.0.1:{node.port}: Address already in use"
