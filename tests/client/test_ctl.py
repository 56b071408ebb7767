"""``aoi-ctl``: a simulated device in one process, a send from another, end to end; with
authentication on, the token command and the credentials of the README's demo."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt
import pytest

from tests.auth import api_key, hmac_secret, write
from tests.conftest import device_number, wait_until

CTL = (sys.executable, "-m", "gateway.client.ctl")


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CTL, *args], capture_output=True, text=True, timeout=30, check=False)


def demo(node, tmp_path, number: str, device_args=(), send_args=()) -> None:
    """The README's two-terminal demo: a device waits for one notification, a send."""
    output = tmp_path / "device.out"
    with output.open("w") as sink:
        device = subprocess.Popen(
            [
                *CTL,
                "device",
                "--url",
                node.url,
                "--device-number",
                number,
                *device_args,
                "--count",
                "1",
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
        sent = ctl(
            *("send", "--url", node.url, "--registration-id", registration_id, *send_args),
            *("--payload", "you have mail"),
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


def test_device_and_send_commands_end_to_end(node, tmp_path) -> None:
    demo(node, tmp_path, device_number())


def test_demo_with_authentication_on(start_node, tmp_path) -> None:
    secret = write(tmp_path / "device.secret", hmac_secret())
    key = api_key()
    keys = write(tmp_path / "api-keys", f"{key} com.example.mail\n".encode())
    node = start_node(api_keys_file=keys, device_jwt_key=secret)
    number = device_number()
    minted = ctl("token", "--secret-file", str(secret), "--device-number", number, "--ttl", "600")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    claims = jwt.decode(token, secret.read_bytes().removesuffix(b"\n"), algorithms=["HS256"])
    assert claims["sub"] == number and 590 <= claims["exp"] - time.time() <= 600
    demo(node, tmp_path, number, ("--token", token), ("--api-key", key))
    refused = ctl("send", "--url", node.url, "--registration-id", "x", "--payload", "y")
    assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == 401
    refused = ctl("device", "--url", node.url, "--device-number", number, "--seconds", "1")
    assert refused.returncode == 1
    assert json.loads(refused.stdout) == {"event": "refused", "status": 401}


@pytest.mark.parametrize(("content", "message"), [(b"short\n", "at least 32 bytes"), (None, "")])
def test_token_refuses_a_short_or_missing_secret(tmp_path, content, message) -> None:
    path = tmp_path / "secret"
    if content is not None:
        write(path, content)
    result = ctl("token", "--secret-file", str(path), "--device-number", "123")
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
