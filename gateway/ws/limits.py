"""Rate limits: token buckets per connection, per node and per client address."""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict

# Client addresses whose buckets are remembered at once (per kind of limit).
ADDRESS_TABLE_SIZE = 16384


class TokenBucket:
    """Allows ``rate`` events per second on average, bursts up to ``burst``."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def wait_seconds(self) -> float:
        """How long until one token is available."""
        return max(0.0, (1 - self._tokens) / self._rate)


class AddressBuckets:
    """A token bucket per client address, the least recently used forgotten past ``size``.

    Memory stays bounded under a flood of addresses; a forgotten address starts
    again with a full bucket.
    """

    __slots__ = ("_buckets", "_rate", "_size")

    def __init__(self, rate: float, size: int = ADDRESS_TABLE_SIZE) -> None:
        self._rate = rate
        self._size = size
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str) -> bool:
        """Spend one token of ``address``; False when its bucket is empty."""
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self._rate, max(1.0, self._rate))
            if len(self._buckets) > self._size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        return bucket.take()

    def __len__(self) -> int:
        return len(self._buckets)


class ClientAddresses:
    """Which address a connection counts for: its peer, or, when the peer is a trusted
    proxy, the last ``X-Forwarded-For`` entry that proxy added."""

    __slots__ = ("_proxies",)

    def __init__(self, trusted_proxies: str | None) -> None:
        self._proxies = tuple(
            ipaddress.ip_network(entry.strip(), strict=False)
            for entry in (trusted_proxies or "").split(",")
            if entry.strip()
        )

    def trusted(self, peer: str) -> bool:
        """True when ``peer`` is one of the configured proxies."""
        if not self._proxies:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The address the connection counts for."""
        if not forwarded_for or not self.trusted(peer):
            return peer
        entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        # Walk back over the trusted proxies; the first other entry is the client as
        # the nearest trusted proxy saw it (earlier entries may be forged).
        for entry in reversed(entries):
            if not self.trusted(entry):
                return entry[:64]
        return entries[0][:64] if entries else peer


class AddressLimits:
    """New connections and registrations per client address.

    A connection is charged once: at accept by its peer address, or, when the
    peer is a trusted proxy, at the websocket upgrade by the forwarded address.
    """

    __slots__ = ("addresses", "connects", "registrations")

    def __init__(self, connect_rate: float, register_rate: float, proxies: str | None) -> None:
        self.addresses = ClientAddresses(proxies)
        self.connects = AddressBuckets(connect_rate)
        self.registrations = AddressBuckets(register_rate)

    def accept(self, peer: str) -> bool:
        """May ``peer`` open one more connection (proxies are charged at the upgrade)?"""
        return self.addresses.trusted(peer) or self.connects.take(peer)

    def upgrade(self, peer: str, forwarded_for: str | None) -> tuple[str, bool]:
        """The client address of an upgrade, and whether it may connect."""
        client = self.addresses.client(peer, forwarded_for)
        if self.addresses.trusted(peer):
            return client, self.connects.take(client)
        return client, True

    def register(self, client: str) -> bool:
        """May ``client`` register one more deviceNumber now?"""
        return self.registrations.take(client)
