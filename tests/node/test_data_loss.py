"""Redis lost its data: the node tells its devices (4002) so they register again at once."""

from __future__ import annotations

import redis.asyncio as redis

from tests.calls import metric_value, ready_device
from tests.conftest import RedisServer, wait_for


async def test_flush_and_restart_without_persistence_close_channels_4002(
    start_node, connect, http
) -> None:
    server = RedisServer()
    server.start()
    try:
        node = start_node(server.url, liveness_ttl=3)
        device, _, _ = await ready_device(connect, node.ws_url)
        link = redis.Redis.from_url(server.url)
        await link.flushall()
        await link.aclose()
        assert await device.wait_closed(5) == 4002
        assert await metric_value(http, node.url, "aoi_redis_data_loss_total") == 1
        assert any("lost its data" in line["message"] for line in node.log_lines())

        again, _, _ = await ready_device(connect, node.ws_url)  # registers afresh
        server.stop()
        server.start()  # empty: the embedded server keeps nothing
        assert await again.wait_closed(10) == 4002
        await wait_for(lambda: node.http_status("/readyz") == 200, 10)
        assert await metric_value(http, node.url, "aoi_redis_data_loss_total") == 2
    finally:
        server.remove()
