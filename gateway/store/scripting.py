"""The Lua scripts of the store, read from ``scripts/`` once at import, with their SHA1s.

Every client script gets the shared prologue ``scripts/client/_lib.lua`` prepended: its
head, and of its sections (``--@ NAME...``) those whose names the script uses.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

_SECTION = re.compile(r"^--@ (.+)\n", re.MULTILINE)


def with_prologue(body: str, prologue: str) -> str:
    """``body`` after the prologue's head and the sections it needs: those whose names
    it uses, and those that the sections so taken use in turn (a section only uses the
    ones above it, as Lua locals must be defined before use)."""
    head, *marked = _SECTION.split(prologue)
    sections = list(zip(marked[0::2], marked[1::2], strict=True))
    needed, taken = body, []
    for names, text in reversed(sections):
        if any(re.search(rf"\b{name}\b", needed) for name in names.split()):
            taken.append(text)
            needed += text
    return head + "".join(reversed(taken)) + body


def _read_sources() -> dict[str, str]:
    folder = resources.files("gateway.store") / "scripts"
    prologue = (folder / "client" / "_lib.lua").read_text()
    sources = {name: (folder / f"{name}.lua").read_text() for name in ("swap_index", "pop_due")}
    for entry in (folder / "client").iterdir():
        if entry.name.endswith(".lua") and not entry.name.startswith("_"):
            sources[entry.name.removesuffix(".lua")] = with_prologue(entry.read_text(), prologue)
    return sources


SOURCES = _read_sources()
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in SOURCES.items()}
