"""The Lua scripts of the store, read from ``scripts/`` once at import, with their SHA1s.

Every client script gets the shared prologue ``scripts/client/_lib.lua`` prepended.
"""

from __future__ import annotations

import hashlib
from importlib import resources


def _read_sources() -> dict[str, str]:
    folder = resources.files("gateway.store") / "scripts"
    prologue = (folder / "client" / "_lib.lua").read_text()
    sources = {name: (folder / f"{name}.lua").read_text() for name in ("swap_index", "pop_due")}
    for entry in (folder / "client").iterdir():
        if entry.name.endswith(".lua") and not entry.name.startswith("_"):
            sources[entry.name.removesuffix(".lua")] = prologue + entry.read_text()
    return sources


SOURCES = _read_sources()
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SOURCES.items()}
