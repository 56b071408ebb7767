"""The application-server side of ``aoi-bench push``: sends notifications at full speed or paced.

``concurrency`` sender tasks take requests in order from one plan. Unpaced, a
request's latency clock starts when its HTTP request starts. Paced (``rate``
notifications per second), request ``i`` is scheduled at ``t0 + i * batch / rate``
and its clock starts at that scheduled time even if every sender was busy, so a
stalled gateway shows up in the latency instead of silently lowering the offered
load (no coordinated omission). Each accepted notificationID is remembered with
its target device and clock start; matching with the devices' receipts happens
after the run, so a push that arrives before its 202 is handled like any other.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

import msgspec

from gateway.bench.http import HttpClient, HttpError, post_request
from gateway.bench.stats import Histogram

_encoder = msgspec.json.Encoder()


class _Queued(msgspec.Struct):
    notificationID: str


class _Result(msgspec.Struct):
    notificationID: str | None = None
    code: int | None = None


class _BatchAnswer(msgspec.Struct):
    results: list[_Result]


_queued = msgspec.json.Decoder(_Queued)
_batch = msgspec.json.Decoder(_BatchAnswer)


@dataclass(frozen=True, slots=True)
class PushPlan:
    """What to send: ``count`` notifications to random devices through random nodes."""

    node_urls: list[str]
    registrations: list[str]  # by position
    device_ids: list[int]  # the fleet's index of the device at each position
    device_node: list[int]  # index of the node holding the channel of each position
    count: int
    batch: int  # 0: single sends; K: batches of K
    rate: float | None
    concurrency: int
    payload: str
    seed: int
    timeout: float
    api_key: str | None = None


@dataclass(slots=True)
class SendLog:
    """What the gateway accepted: notificationID -> (device index, clock start)."""

    accepted: dict[str, tuple[int, float]] = field(default_factory=dict)
    requests: Histogram = field(default_factory=Histogram)
    errors: dict[str, int] = field(default_factory=dict)
    crossed: int = 0
    sent: int = 0
    started: float = 0.0
    finished: float = 0.0
    truncated: bool = False

    def error(self, kind: str, amount: int = 1) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + amount


class Sender:
    """Runs one ``PushPlan``; each sender task keeps one connection per node."""

    def __init__(self, plan: PushPlan) -> None:
        self.plan = plan
        self.per_request = max(1, plan.batch)
        self.requests = math.ceil(plan.count / self.per_request)
        rng = random.Random(plan.seed)
        devices = len(plan.registrations)
        self.targets = [rng.randrange(devices) for _ in range(plan.count)]
        self.nodes = [rng.randrange(len(plan.node_urls)) for _ in range(self.requests)]
        self.bodies = [
            _encoder.encode({"registrationID": registration, "payload": plan.payload})
            for registration in plan.registrations
        ]
        route = "/v1/notifications:batch" if plan.batch else "/v1/notifications"
        self.framers = [post_request(url, route, plan.api_key) for url in plan.node_urls]
        self.log = SendLog()
        self._next = 0

    async def run(self, deadline: float) -> SendLog:
        """Send the whole plan, or what fits before ``deadline`` (monotonic)."""
        # A paced run starts its schedule a moment ahead, so every sender is waiting.
        self.log.started = time.monotonic() + (0.01 if self.plan.rate else 0.0)
        tasks = [
            asyncio.create_task(self._sender(self.log.started, deadline))
            for _ in range(min(self.plan.concurrency, self.requests))
        ]
        await asyncio.gather(*tasks)
        self.log.finished = time.monotonic()
        self.log.truncated = self._next < self.requests
        return self.log

    async def _sender(self, t0: float, deadline: float) -> None:
        rate = self.plan.rate
        clients = [HttpClient(url) for url in self.plan.node_urls]
        try:
            while self._next < self.requests and time.monotonic() < deadline:
                job = self._next
                self._next += 1
                scheduled = None if rate is None else t0 + job * self.per_request / rate
                if scheduled is not None and scheduled > time.monotonic():
                    await asyncio.sleep(scheduled - time.monotonic())
                await self._post(clients, job, scheduled)
        finally:
            for client in clients:
                client.close()

    def _body(self, devices: list[int]) -> bytes:
        if not self.plan.batch:
            return self.bodies[devices[0]]
        return b'{"notifications":[' + b",".join(self.bodies[d] for d in devices) + b"]}"

    async def _post(self, clients: list[HttpClient], job: int, scheduled: float | None) -> None:
        node = self.nodes[job]
        devices = self.targets[job * self.per_request : (job + 1) * self.per_request]
        request = self.framers[node](self._body(devices))
        started = time.monotonic()
        self.log.sent += len(devices)
        try:
            status, raw = await clients[node].post(request, self.plan.timeout)
        except (HttpError, OSError, TimeoutError) as error:
            self.log.error(type(error).__name__, len(devices))
            return
        self.log.requests.record(time.monotonic() - started)
        origin = started if scheduled is None else scheduled
        if self.plan.batch:
            self._batch_answer(status, raw, devices, node, origin)
        elif status == 202:
            self._accept(_queued.decode(raw).notificationID, devices[0], node, origin)
        else:
            self.log.error(f"http_{status}")

    def _batch_answer(
        self, status: int, raw: bytes, devices: list[int], node: int, origin: float
    ) -> None:
        if status != 200:
            self.log.error(f"http_{status}", len(devices))
            return
        for device, result in zip(devices, _batch.decode(raw).results, strict=True):
            if result.notificationID is None:
                self.log.error(f"item_{result.code}")
            else:
                self._accept(result.notificationID, device, node, origin)

    def _accept(self, notification_id: str, position: int, node: int, origin: float) -> None:
        self.log.accepted[notification_id] = (self.plan.device_ids[position], origin)
        if node != self.plan.device_node[position]:
            self.log.crossed += 1
