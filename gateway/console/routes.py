"""``/console``: the static files of the package (read once, served from memory) and
``/console/config.json``.

Only the files found in ``static/`` at start are served, by exact name, so there is
no directory listing and no path that reaches anything else. Every answer carries
an ETag and ``Cache-Control: no-cache``: browsers revalidate, so a page never runs
with a script of another version after an upgrade.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.runtime.settings import Settings

PAGES = {"/console": "index.html", "/console/device": "device.html"}
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # The device page may be pointed at other gateways' websockets (?ws=...).
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the console, held in memory."""

    body: bytes
    content_type: str
    etag: str


class Config(msgspec.Struct):
    """Body of ``GET /console/config.json``: what the pages need to know before a call."""

    apiKeys: bool
    deviceAuth: bool
    nodeID: str


def load_files() -> dict[str, StaticFile]:
    """The servable files of ``static/`` by name (files of a known type only)."""
    found = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            found[entry.name] = StaticFile(body, CONTENT_TYPES[suffix], etag)
    return found


def _answer(request: web.Request, served: StaticFile) -> web.Response:
    headers = {**SECURITY_HEADERS, "ETag": served.etag, "Cache-Control": "no-cache"}
    if served.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=served.body,
        content_type=served.content_type,
        charset=None if served.content_type.startswith("image/png") else "utf-8",
        headers=headers,
    )


def console_routes(settings: Settings) -> list[tuple[str, str, Handler]]:
    """The routes of ``/console`` and its files (the node counts and answers them)."""
    files = load_files()
    config = msgspec.json.encode(
        Config(
            apiKeys=settings.api_keys_file is not None,
            deviceAuth=settings.device_jwt_key is not None,
            nodeID=settings.node_id,
        )
    )

    async def page(request: web.Request) -> web.Response:
        return _answer(request, files[PAGES[request.path]])

    async def static(request: web.Request) -> web.Response:
        served = files.get(request.match_info["name"])
        if served is None:
            raise web.HTTPNotFound(text="no such console file")
        return _answer(request, served)

    async def config_json(request: web.Request) -> web.Response:
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=config, content_type="application/json", headers=headers)

    async def to_console(request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": "/console"})

    return [
        *(("GET", path, page) for path in PAGES),
        ("GET", "/console/", to_console),
        ("GET", "/console/config.json", config_json),
        ("GET", "/console/{name}", static),
    ]
