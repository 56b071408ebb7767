"""``aoi-ctl``: a simulated device in one process, a send from another, end to end; with
authentication on, the token command and the credentials of the README's demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import aiohttp
import jwt
import pytest

from gateway.client import Device
from gateway.client import ctl as ctl_module
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


def _ctl(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.client.ctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _events(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_every_option_has_help_text() -> None:
    parser = ctl_module._parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == {"device", "send", "status", "cancel", "client", "token"}
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"aoi-ctl {name} {action.option_strings or action.dest}"
    helped = subprocess.run(
        [sys.executable, "-m", "gateway.client.ctl", "client", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "--device-number" in helped and "CLIENT_ID" in helped


def test_status_cancel_and_client_commands(node, capsys) -> None:
    async def run(*argv: str) -> tuple[int, dict[str, object]]:
        args = ctl_module._parser().parse_args([*argv, "--url", node.url])
        code = await ctl_module.COMMANDS[args.command](args)
        return code, json.loads(capsys.readouterr().out.splitlines()[-1])

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            number = device_number()
            device = await Device.connect(node.ws_url, session=http)
            client_id = await device.register(number)
            registration_id = await device.register_application(client_id, "com.example.mail")
            await device.close()
        code, sent = await run("send", "--registration-id", registration_id, "--payload", "p")
        notification_id = sent["body"]["notificationID"]
        code, status = await run("status", notification_id)
        assert code == 0 and status["body"]["status"] == "queued"
        code, by_id = await run("client", client_id)
        assert code == 0 and by_id["body"]["pendingNotifications"] == 1
        assert await run("client", "--device-number", number) == (0, by_id)
        assert (await run("cancel", notification_id))[0] == 0
        code, again = await run("cancel", notification_id)
        assert code == 1 and again["status"] == 409
        code, status = await run("status", notification_id)
        assert status["body"]["status"] == "cancelled"
        code, unknown = await run("client", "--device-number", device_number())
        assert code == 1 and unknown["status"] == 404

    asyncio.run(scenario())


def test_device_command_prints_its_reconnection(start_node, tmp_path) -> None:
    first = start_node(drain_window=0.2, drain_grace=5)
    second = start_node()
    lines: list[str] = []
    with _ctl("device", "--url", first.url, "--url", second.url, "--count", "1") as device:
        assert device.stdout is not None
        try:
            while not _events(lines) or _events(lines)[-1].get("event") != "ready":
                lines.append(device.stdout.readline())
            registration_id = str(_events(lines)[-1]["registrationID"])
            first.stop()
            while "reconnected" not in [e.get("event") for e in _events(lines)]:
                line = device.stdout.readline()
                assert line, "aoi-ctl device ended early:\n" + "".join(lines)
                lines.append(line)
            send = ["send", "--url", second.url, "--registration-id", registration_id]
            subprocess.run(
                [sys.executable, "-m", "gateway.client.ctl", *send, "--payload", "after the drain"],
                capture_output=True,
                timeout=30,
                check=True,
            )
            assert device.wait(30) == 0
            lines += device.stdout.readlines()
        finally:
            if device.poll() is None:
                device.kill()
    events = _events(lines)
    closed = next(e for e in events if e["event"] == "closed")
    assert closed["code"] == 1001 and closed["reconnecting"] is True
    assert next(e for e in events if e["event"] == "reconnected")["url"] == second.ws_url
    assert events[-1]["event"] == "notification"
