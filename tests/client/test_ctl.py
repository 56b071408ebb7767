"""``aoi-ctl``: a simulated device in one process, a send from another, end to end."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import device_number, wait_until


def test_device_and_send_commands_end_to_end(node, tmp_path) -> None:
    output = tmp_path / "device.out"
    with output.open("w") as sink:
        device = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.client.ctl",
                "device",
                "--url",
                node.url,
                "--device-number",
                device_number(),
                "--count",
                "1",
                "--seconds",
                "30",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:

        def ready() -> dict[str, str] | None:
            for line in output.read_text().splitlines():
                event = json.loads(line)
                if event.get("event") == "ready":
                    return event
            return None

        registration_id = wait_until(ready, timeout=15)["registrationID"]
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.client.ctl",
                "send",
                "--url",
                node.url,
                "--registration-id",
                registration_id,
                "--payload",
                "you have mail",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        answer = json.loads(sent.stdout)
        assert answer["status"] == 202
        assert device.wait(30) == 0
        events = [json.loads(line) for line in output.read_text().splitlines()]
        note = events[-1]
        assert note["event"] == "notification" and note["payload"] == "you have mail"
        assert note["notificationID"] == answer["body"]["notificationID"]
    finally:
        if device.poll() is None:
            device.kill()
            device.wait(10)
