"""Packing Redis commands in C: a redis-py connection that uses hiredis' packer.

redis-py's asyncio connection packs every argument in Python, which was about a
fifteenth of a node's CPU under load; ``hiredis.pack_command`` does the same
work in C. The link's lanes pack their pipelines with ``pack``; the connection
class packs what redis-py itself sends on plain TCP connections (handshakes,
discovery, pub/sub); for ``rediss://`` and ``unix://`` redis-py picks its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hiredis
import redis.asyncio as redis


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in the Redis protocol, packed by hiredis."""
    name = args[0]
    if isinstance(name, str) and " " in name:  # redis-py spells some commands "SCRIPT LOAD"
        args = (*name.split(), *args[1:])
    packed: bytes = hiredis.pack_command(args)
    return packed


class PackedConnection(redis.Connection):
    """A redis-py connection whose commands are packed by hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        return [pack(args)]

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        return [b"".join(pack(tuple(command)) for command in commands)]
