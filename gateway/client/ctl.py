"""``aoi-ctl``: simulate a device, send, look up and cancel notifications, look up clients.

Terminal 1: ``aoi-ctl device --device-number 123 --app com.example.mail``
prints the registrationID, then every notification it receives (and acknowledges),
and every close and reconnection, each as one JSON object per line.
Terminal 2: ``aoi-ctl send --registration-id ID --payload hello``, then
``aoi-ctl status NOTIFICATION_ID``.
With authentication on, ``aoi-ctl token --secret-file F --device-number 123`` prints a
development token for ``device --token``, and ``--api-key`` carries a sender's key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aiohttp

from gateway.client import AppServer, Device, DeviceClosed
from gateway.client.devtoken import print_token

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_DEVICE_NUMBER = "5465465416846865465"


def _print(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def _print_event(event: dict[str, Any]) -> None:
    _print(**event)


async def run_device(args: argparse.Namespace) -> int:
    """Register, activate, register the app, then print and acknowledge notifications."""
    urls = [url.rstrip("/") + "/ws" for url in args.url or [DEFAULT_URL]]
    try:
        dev = await Device.connect(
            urls, token=args.token, reconnect=args.reconnect, on_event=_print_event
        )
    except aiohttp.WSServerHandshakeError as refused:  # 401 without a valid token, 503, ...
        _print(event="refused", status=refused.status)
        return 1
    try:
        client_id = await dev.register(args.device_number)
        await dev.activate(client_id)
        registration_id = await dev.register_application(client_id, args.app)
        _print(event="ready", clientID=client_id, registrationID=registration_id, url=dev.url)
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
            except DeviceClosed as closed:
                _print(event="stopped", error=str(closed))
                return 1
            await dev.acknowledge(note["notificationID"])
            received += 1
            _print(event="notification", **note)
        return 0
    finally:
        await dev.close()


async def _call_api(
    args: argparse.Namespace, call: Callable[[AppServer], Awaitable[tuple[int, Any]]], ok: int
) -> int:
    """One API call, printed as ``{"status", "body"}``; exit status 0 when it answered ``ok``."""
    async with aiohttp.ClientSession() as session:
        status, body = await call(AppServer(args.url, session, api_key=args.api_key))
    _print(status=status, body=body)
    return 0 if status == ok else 1


async def run_send(args: argparse.Namespace) -> int:
    """Send one notification and print the answer."""
    fields: dict[str, object] = {}
    if args.ttl is not None:
        fields["ttl"] = args.ttl
    if args.collapse_key is not None:
        fields["collapseKey"] = args.collapse_key
    return await _call_api(
        args,
        lambda api: api.send(
            args.registration_id, args.payload, idempotency_key=args.idempotency_key, **fields
        ),
        202,
    )


async def run_status(args: argparse.Namespace) -> int:
    return await _call_api(args, lambda api: api.status(args.notification_id), 200)


async def run_cancel(args: argparse.Namespace) -> int:
    return await _call_api(args, lambda api: api.cancel(args.notification_id), 204)


async def run_client(args: argparse.Namespace) -> int:
    if args.device_number is not None:
        return await _call_api(
            args, lambda api: api.client_by_device_number(args.device_number), 200
        )
    return await _call_api(args, lambda api: api.client(args.client_id), 200)


URL_HELP = f"base URL of a node (default {DEFAULT_URL})"


def _api_command(commands: Any, name: str, **texts: str) -> argparse.ArgumentParser:
    """A subcommand that calls the HTTP API: node URL and API key."""
    command: argparse.ArgumentParser = commands.add_parser(name, **texts)
    command.add_argument("--url", default=DEFAULT_URL, help=URL_HELP)
    command.add_argument(
        "--api-key", help="API key, sent as Authorization: Bearer (when the node has keys)"
    )
    return command


def _device_parser(commands: Any) -> None:
    dev = commands.add_parser(
        "device",
        help="simulate one device: print and acknowledge what it receives",
        description="Register a device, activate its channel, register one application, "
        "then print every notification (acknowledged), close and reconnection as JSON lines.",
    )
    dev.add_argument(
        "--url",
        action="append",
        help=f"base URL of a node (default {DEFAULT_URL}); repeat it to give other nodes "
        "to reconnect to, tried in turn",
    )
    dev.add_argument(
        "--device-number",
        default=DEFAULT_DEVICE_NUMBER,
        help=f"deviceNumber to register (default {DEFAULT_DEVICE_NUMBER})",
    )
    dev.add_argument(
        "--app", default="com.example.mail", help="applicationID to register (default %(default)s)"
    )
    dev.add_argument(
        "--count",
        type=int,
        default=1_000_000,
        help="stop after N notifications (default %(default)s)",
    )
    dev.add_argument(
        "--seconds", type=float, default=3600.0, help="stop after this long (default %(default)s)"
    )
    dev.add_argument(
        "--no-reconnect",
        dest="reconnect",
        action="store_false",
        help="stop at the first close instead of reconnecting with backoff, activating the "
        "same clientID again (or registering again if the gateway forgot it)",
    )
    dev.add_argument(
        "--token", help="device token (see the token command), when the node authenticates devices"
    )


def _api_parsers(commands: Any) -> None:
    send = _api_command(
        commands, "send", help="send one notification", description="POST /v1/notifications."
    )
    send.add_argument("--registration-id", required=True, help="registrationID to send to")
    send.add_argument("--payload", required=True, help="payload text (at most 4096 bytes as UTF-8)")
    send.add_argument(
        "--ttl", type=int, help="seconds 0..2419200 the gateway keeps trying (default 86400)"
    )
    send.add_argument(
        "--collapse-key", help="replaces a queued notification of the same registrationID and key"
    )
    send.add_argument(
        "--idempotency-key", help="Idempotency-Key header: a retry with it stores nothing new"
    )
    for name, verb in (("status", "look up"), ("cancel", "cancel")):
        command = _api_command(
            commands,
            name,
            help=f"{verb} a notification",
            description=f"{verb.capitalize()} a notification.",
        )
        command.add_argument("notification_id", metavar="NOTIFICATION_ID", help="notificationID")
    client = _api_command(
        commands,
        "client",
        help="look up a client by clientID or deviceNumber",
        description="Introspection: channel, node, applications, pending count (an admin key).",
    )
    which = client.add_mutually_exclusive_group(required=True)
    which.add_argument("client_id", nargs="?", metavar="CLIENT_ID", help="clientID to look up")
    which.add_argument("--device-number", help="look the client up by its deviceNumber instead")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aoi-ctl", description=(__doc__ or "").splitlines()[0].partition(": ")[2]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _device_parser(commands)
    _api_parsers(commands)
    _token_parser(commands)
    return parser


def _token_parser(commands: Any) -> None:
    token = commands.add_parser(
        "token",
        help="print a development device token (HS256)",
        description="Mint a device token signed with the node's HMAC secret file.",
    )
    token.add_argument("--secret-file", required=True, help="the node's --device-jwt-key secret")
    token.add_argument("--device-number", required=True, help="the token's sub (deviceNumber)")
    token.add_argument(
        "--ttl", type=float, default=86400.0, help="seconds the token is valid (default 86400)"
    )
    token.add_argument("--aud", help="aud claim (the node's --device-jwt-audience)")
    token.add_argument("--iss", help="iss claim (the node's --device-jwt-issuer)")


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "device": run_device,
    "send": run_send,
    "status": run_status,
    "cancel": run_cancel,
    "client": run_client,
}


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "token":
        claims = {name: value for name in ("aud", "iss") if (value := getattr(args, name))}
        sys.exit(print_token(args.secret_file, args.device_number, args.ttl, **claims))
    try:
        sys.exit(asyncio.run(COMMANDS[args.command](args)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
