"""Running a process's event loop: uvloop when installed, and a garbage collector tuned for servers.

CPython's default collector runs a young-generation pass every 700 net container
allocations, and every tenth a pass over the older generation. A node serving
thousands of connections allocates that many objects in a few milliseconds, and
almost all of them die by reference counting, so those passes found next to
nothing while traversing every live connection's objects: about a tenth of a
node's CPU under ``aoi-bench push`` (1,200 collections, 0.6 s per node per run).
A threshold of 10,000 keeps cyclic garbage collected and cuts that to a few
dozen passes. Objects that exist when the loop starts (modules, classes,
configuration) are moved out of the collector's sight with ``gc.freeze``.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
YOUNG_GENERATION_THRESHOLD = 10_000


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh event loop and return its result."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.run(main)
    return uvloop.run(main)
