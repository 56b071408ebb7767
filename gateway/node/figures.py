"""The node's own figures: published with each heartbeat (the console's list of nodes)
and summed up in one log line per interval."""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.runtime import metrics
from gateway.store import NodeFigures
from gateway.ws.registry import LocalChannels

log = logging.getLogger("gateway.summary")
# Longest time between two heartbeats, so the console's figures stay fresh.
FIGURES_PERIOD = 2.0


class Deltas:
    """Notification counts by outcome since the previous ``take``."""

    def __init__(self) -> None:
        self._last = metrics.notification_totals()
        self._at = time.monotonic()

    def take(self) -> tuple[dict[str, int], float]:
        """The counts since the previous call and the seconds that passed."""
        totals, at = metrics.notification_totals(), time.monotonic()
        counts = {outcome: totals[outcome] - self._last[outcome] for outcome in totals}
        elapsed = at - self._at
        self._last, self._at = totals, at
        return counts, elapsed


def node_figures(
    node_id: str, *, ready: bool, draining: bool, local: LocalChannels, deltas: Deltas
) -> NodeFigures:
    """The figures of this node now, with rates since the previous heartbeat."""
    counts, elapsed = deltas.take()
    rates = {
        outcome: round(n / elapsed, 2) if elapsed > 0 else 0.0 for outcome, n in counts.items()
    }
    return NodeFigures(
        nodeID=node_id,
        ready=ready,
        draining=draining,
        connections=len(local.outlets),
        channels=len(local.channels),
        notificationsPerSecond=rates,
        updatedTime=time.time_ns() // 1_000_000,
    )


async def log_summaries(local: LocalChannels, interval: float) -> None:
    """Every ``interval``: connections and channels now, notifications by outcome since."""
    deltas = Deltas()
    while True:
        await asyncio.sleep(interval)
        counts, elapsed = deltas.take()
        outcomes = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
        log.info(
            "%d connections, %d channels; notifications in the last %d s: %s",
            len(local.outlets),
            len(local.channels),
            round(elapsed),
            outcomes,
            extra={
                "connections": len(local.outlets),
                "channels": len(local.channels),
                "notifications": counts,
                "interval_seconds": round(elapsed, 1),
            },
        )
