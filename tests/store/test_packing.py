"""hiredis packs commands byte for byte as redis-py would, and the node runs on it."""

from __future__ import annotations

import redis.asyncio as redis

from gateway.store.packing import PackedConnection

COMMANDS = [
    ("EVALSHA", "a" * 40, 1, "aoi:{tag}:client", "aoi:bus:", 1732480000000, 3600000),
    ("HSET", "key", "field", "é ünïcode ✓", "n", -7, "f", 1.5),
    ("SET", b"raw\x00bytes", b"", "PX", 15000),
    ("SCRIPT LOAD", "return redis.call('PING')"),
    ("PUBLISH", "aoi:bus:node-1", "x" * 10000),
]


def test_packing_matches_redis_py():
    ours = PackedConnection(host="127.0.0.1")
    theirs = redis.Connection(host="127.0.0.1")
    assert b"".join(ours.pack_commands(COMMANDS)) == b"".join(theirs.pack_commands(COMMANDS))
    for command in COMMANDS:
        assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))


async def test_scripts_and_replies_through_the_packed_connection(redis_server):
    client = redis.Redis.from_url(
        redis_server.url,
        connection_class=PackedConnection,
        decode_responses=True,
        socket_timeout=5,
    )
    try:
        sha = await client.script_load("return {ARGV[1], tonumber(ARGV[2]) + 1}")
        assert await client.evalsha(sha, 0, "é", 41) == ["é", 42]
        async with client.pipeline(transaction=False) as pipe:
            pipe.set("aoi:test:packed", "v", px=5000)
            pipe.get("aoi:test:packed")
            assert await pipe.execute() == [True, "v"]
    finally:
        await client.aclose()
