"""``aoi-ctl``: simulate a device, send a notification, or mint a development device token.

Terminal 1: ``aoi-ctl device --device-number 123 --app com.example.mail``
prints the registrationID, then every notification it receives (and acknowledges).
Terminal 2: ``aoi-ctl send --registration-id ID --payload hello``.
With authentication on, ``aoi-ctl token --secret-file F --device-number 123`` prints a
token for ``device --token``, and ``send --api-key`` carries the sender's key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence

import aiohttp
import jwt

from gateway.client import AppServer, Device

DEFAULT_URL = "http://127.0.0.1:8080"
HMAC_MINIMUM_BYTES = 32  # the node refuses shorter secrets (contract section 2.4)


def _print(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def run_device(args: argparse.Namespace) -> int:
    """Register, activate, register the app, then print and acknowledge notifications."""
    try:
        dev = await Device.connect(args.url.rstrip("/") + "/ws", token=args.token)
    except aiohttp.WSServerHandshakeError as refused:  # 401 without a valid token, 503, ...
        _print(event="refused", status=refused.status)
        return 1
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
        status, body = await AppServer(args.url, session, api_key=args.api_key).send(
            args.registration_id, args.payload, idempotency_key=args.idempotency_key, **fields
        )
    _print(status=status, body=body)
    return 0 if status == 202 else 1


def mint_token(secret: bytes, device_number: str, ttl: float, **claims: str) -> str:
    """An HS256 device token for ``device_number`` valid ``ttl`` seconds from now."""
    now = int(time.time())
    payload = {"sub": device_number, "iat": now, "exp": now + int(ttl), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def print_token(args: argparse.Namespace) -> int:
    """Print a development token signed with the HMAC secret of ``--secret-file``."""
    try:
        with open(args.secret_file, "rb") as file:
            secret = file.read().removesuffix(b"\n")  # as the node reads it
    except OSError as error:
        print(f"aoi-ctl: {args.secret_file}: {error.strerror}", file=sys.stderr)
        return 2
    if len(secret) < HMAC_MINIMUM_BYTES:
        print(f"aoi-ctl: the secret must be at least {HMAC_MINIMUM_BYTES} bytes", file=sys.stderr)
        return 2
    claims = {name: value for name in ("aud", "iss") if (value := getattr(args, name))}
    print(mint_token(secret, args.device_number, args.ttl, **claims), flush=True)
    return 0


def _sender(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse.ArgumentParser:
    """A subcommand that calls the HTTP API: node URL and API key."""
    command = commands.add_parser(name, help=help)
    command.add_argument("--url", default=DEFAULT_URL, help="node base URL")
    command.add_argument(
        "--api-key", help="API key (Authorization: Bearer), when the node has keys"
    )
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aoi-ctl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("device", help="simulate one device")
    dev.add_argument("--url", default=DEFAULT_URL, help="node base URL")
    dev.add_argument("--device-number", default="5465465416846865465")
    dev.add_argument("--app", default="com.example.mail", help="applicationID to register")
    dev.add_argument("--count", type=int, default=1_000_000, help="stop after N notifications")
    dev.add_argument("--seconds", type=float, default=3600.0, help="stop after this long")
    dev.add_argument(
        "--token", help="device token (see 'token'), when the node authenticates devices"
    )
    send = _sender(commands, "send", "send one notification")
    send.add_argument("--registration-id", required=True)
    send.add_argument("--payload", required=True)
    send.add_argument("--ttl", type=int)
    send.add_argument("--collapse-key")
    send.add_argument("--idempotency-key", help="Idempotency-Key: a retry stores nothing new")
    token = commands.add_parser("token", help="print a development device token (HS256)")
    token.add_argument("--secret-file", required=True, help="the node's --device-jwt-key secret")
    token.add_argument("--device-number", required=True, help="the token's sub")
    token.add_argument("--ttl", type=float, default=86400.0, help="seconds the token is valid")
    token.add_argument("--aud", help="aud claim (the node's --device-jwt-audience)")
    token.add_argument("--iss", help="iss claim (the node's --device-jwt-issuer)")
    return parser


COMMANDS = {"device": run_device, "send": run_send}


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "token":
        sys.exit(print_token(args))
    try:
        sys.exit(asyncio.run(COMMANDS[args.command](args)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
