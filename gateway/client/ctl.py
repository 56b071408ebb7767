"""``aoi-ctl``: simulate a device or send a notification from the command line.

Terminal 1: ``aoi-ctl device --device-number 123 --app com.example.mail``
prints the registrationID, then every notification it receives (and acknowledges).
Terminal 2: ``aoi-ctl send --registration-id ID --payload hello``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence

import aiohttp

from gateway.client import AppServer, Device

DEFAULT_URL = "http://127.0.0.1:8080"


def _print(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def run_device(args: argparse.Namespace) -> int:
    """Register, activate, register the app, then print and acknowledge notifications."""
    dev = await Device.connect(args.url.rstrip("/") + "/ws")
    try:
        client_id = await dev.register(args.device_number)
        await dev.activate(client_id)
        registration_id = await dev.register_application(client_id, args.app)
        _print(event="ready", clientID=client_id, registrationID=registration_id)
        deadline = time.monotonic() + args.seconds
        received = 0
        while received < args.count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                note = await dev.next_notification(timeout=remaining)
            except TimeoutError:
                break
            await dev.acknowledge(note["notificationID"])
            received += 1
            _print(event="notification", **note)
        return 0
    finally:
        await dev.close()


async def run_send(args: argparse.Namespace) -> int:
    """Send one notification and print the answer."""
    fields: dict[str, object] = {}
    if args.ttl is not None:
        fields["ttl"] = args.ttl
    if args.collapse_key is not None:
        fields["collapseKey"] = args.collapse_key
    async with aiohttp.ClientSession() as session:
        status, body = await AppServer(args.url, session).send(
            args.registration_id, args.payload, **fields
        )
    _print(status=status, body=body)
    return 0 if status == 202 else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aoi-ctl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("device", help="simulate one device")
    dev.add_argument("--url", default=DEFAULT_URL, help="node base URL")
    dev.add_argument("--device-number", default="5465465416846865465")
    dev.add_argument("--app", default="com.example.mail", help="applicationID to register")
    dev.add_argument("--count", type=int, default=1_000_000, help="stop after N notifications")
    dev.add_argument("--seconds", type=float, default=3600.0, help="stop after this long")
    send = commands.add_parser("send", help="send one notification")
    send.add_argument("--url", default=DEFAULT_URL, help="node base URL")
    send.add_argument("--registration-id", required=True)
    send.add_argument("--payload", required=True)
    send.add_argument("--ttl", type=int)
    send.add_argument("--collapse-key")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    command = run_device if args.command == "device" else run_send
    try:
        sys.exit(asyncio.run(command(args)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
