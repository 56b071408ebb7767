"""The link to Redis: one interface, one implementation per deployment, chosen by the settings."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.runtime.settings import Settings
from gateway.store.link.base import Link, LinkOptions, NotReplicated, Subscription
from gateway.store.link.cluster import ClusterLink
from gateway.store.link.lane import Command
from gateway.store.link.sentinel import SentinelLink
from gateway.store.link.standalone import StandaloneLink

__all__ = ["Command", "Link", "NotReplicated", "Subscription", "open_link"]


def open_link(settings: Settings, scripts: Mapping[str, str]) -> Link:
    """The link to the one Redis deployment ``settings`` name."""
    options = LinkOptions(
        settings.redis_password, settings.redis_timeout, settings.redis_wait_replicas, scripts
    )
    if settings.redis_cluster is not None:
        return ClusterLink(settings.redis_cluster, options)
    if settings.redis_sentinel is not None:
        return SentinelLink(settings.redis_sentinel, settings.redis_sentinel_service, options)
    if settings.redis_url is None:
        raise ValueError("no Redis deployment configured")
    return StandaloneLink(settings.redis_url, options)
