"""Simulated devices for ``aoi-bench``, spread over worker processes.

Each worker holds up to ~15,000 websockets (the open-files limit is per process),
optionally from its own loopback source address, does the full handshake for each
device (connect, register, activate, register one application), then records
every pushed notification (ID, device, monotonic time) and acknowledges it with
code 200. The parent talks to the workers over pipes: workers report progress
twice a second, the parent asks for the receipts and finally tells them to stop.
``time.monotonic`` is one system-wide clock on Linux, so the parent can compare
its send times with the workers' receive times.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import msgspec

from gateway.bench.local import raise_open_files_limit
from gateway.bench.stats import Histogram
from gateway.client import AoiError, Device
from gateway.client.devtoken import mint_token
from gateway.runtime import eventloop

PROGRESS_PERIOD = 0.5
TOKEN_TTL = 24 * 3600.0  # seconds: device tokens outlive any run
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What one worker does: which devices (global index, websocket URL) and how."""

    devices: list[tuple[int, str]]
    run_id: str
    application_id: str
    local_ip: str | None
    connect_concurrency: int
    timeout: float
    deadline: float  # time.monotonic() after which the worker gives up and exits
    device_secret: bytes | None = None  # HMAC secret: each device upgrades with a token


@dataclass(slots=True)
class Ready:
    """A worker's handshake results."""

    registrations: list[tuple[int, str]] = field(default_factory=list)
    handshakes: Histogram = field(default_factory=Histogram)
    failures: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0


@dataclass(slots=True)
class Receipts:
    """Notifications received: (notificationID, device index, monotonic time) in order."""

    received: list[tuple[str, int, float]] = field(default_factory=list)
    closed_devices: list[int] = field(default_factory=list)


class _BenchDevice(Device):
    """A device that hands pushed notifications to its worker instead of a queue."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, index: int, worker: _Worker) -> None:
        super().__init__(ws, None)
        self.index = index
        self.worker = worker

    def _route(self, frame: dict[str, Any]) -> None:
        if frame.get("messageType") == "notificationDeliveryReq":
            self.worker.deliver(self, str(frame.get("notificationID")))
        else:
            super()._route(frame)


def _ack_frame(notification_id: str) -> str:
    frame = {
        "messageType": "notificationDeliveryRes",
        "notificationID": notification_id,
        "code": 200,
        "desc": "OK",
    }
    return _encoder.encode(frame).decode()


class _Worker:
    """The event-loop side of one worker process."""

    def __init__(self, conn: Connection, spec: WorkerSpec) -> None:
        self.conn = conn
        self.spec = spec
        self.devices: list[_BenchDevice] = []
        self.receipts = Receipts()
        self._acks: list[tuple[_BenchDevice, str]] = []
        self._ack_ready = asyncio.Event()

    def deliver(self, device: _BenchDevice, notification_id: str) -> None:
        self.receipts.received.append((notification_id, device.index, time.monotonic()))
        self._acks.append((device, notification_id))
        self._ack_ready.set()

    async def run(self) -> None:
        local = None if self.spec.local_ip is None else (self.spec.local_ip, 0)
        connector = aiohttp.TCPConnector(limit=0, local_addr=local)
        async with aiohttp.ClientSession(connector=connector) as session:
            helpers = [asyncio.create_task(self._progress()), asyncio.create_task(self._acker())]
            try:
                async with asyncio.timeout(max(1.0, self.spec.deadline - time.monotonic())):
                    self.conn.send(("ready", await self._connect_all(session)))
                    await self._serve()
            except TimeoutError:
                pass
            finally:
                for task in helpers:
                    task.cancel()
                await self._close_all()

    async def _connect_all(self, session: aiohttp.ClientSession) -> Ready:
        ready = Ready(started=time.monotonic())
        gate = asyncio.Semaphore(self.spec.connect_concurrency)

        async def one(index: int, url: str) -> None:
            async with gate:
                started = time.monotonic()
                try:
                    async with asyncio.timeout(self.spec.timeout):
                        registration = await self._handshake(session, index, url)
                except Exception as error:
                    name = type(error).__name__ + (
                        f" {error.code}" if isinstance(error, AoiError) else ""
                    )
                    ready.failures[name] = ready.failures.get(name, 0) + 1
                    return
                ready.handshakes.record(time.monotonic() - started)
                ready.registrations.append((index, registration))

        await asyncio.gather(*(one(index, url) for index, url in self.spec.devices))
        ready.finished = time.monotonic()
        return ready

    async def _handshake(self, session: aiohttp.ClientSession, index: int, url: str) -> str:
        number = f"bench-{self.spec.run_id}-{index}"
        secret = self.spec.device_secret
        headers = None
        if secret is not None:
            headers = {"Authorization": f"Bearer {mint_token(secret, number, TOKEN_TTL)}"}
        ws = await session.ws_connect(
            url, headers=headers, timeout=aiohttp.ClientWSTimeout(ws_close=5.0)
        )
        device = _BenchDevice(ws, index, self)
        self.devices.append(device)
        client_id = await device.register(number)
        await device.activate(client_id)
        return await device.register_application(client_id, self.spec.application_id)

    async def _serve(self) -> None:
        """Answer the parent's commands until it says stop (or goes away)."""
        while time.monotonic() < self.spec.deadline:
            if not await asyncio.to_thread(self.conn.poll, 0.5):
                continue
            try:
                command = self.conn.recv()
            except (EOFError, OSError):
                return
            if command == "collect":
                self.receipts.closed_devices = [d.index for d in self.devices if d.closed.is_set()]
                self.conn.send(("receipts", self.receipts))
            elif command == "stop":
                return

    async def _progress(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.conn.send(("progress", len(self.devices), len(self.receipts.received)))
            await asyncio.sleep(PROGRESS_PERIOD)

    async def _acker(self) -> None:
        while True:
            await self._ack_ready.wait()
            self._ack_ready.clear()
            batch, self._acks = self._acks, []
            for device, notification_id in batch:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await device.ws.send_str(_ack_frame(notification_id))

    async def _close_all(self) -> None:
        devices, self.devices = self.devices, []
        gate = asyncio.Semaphore(500)

        async def close(device: Device) -> None:
            async with gate:
                await device.close()

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.gather(*(close(device) for device in devices))


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a worker process."""
    raise_open_files_limit()
    eventloop.run(_Worker(conn, spec).run())


class Fleet:
    """The parent's handle on all worker processes."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        self._loop = asyncio.get_running_loop()
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        self._inboxes: list[asyncio.Queue[Any]] = []
        self.connected = [0] * len(specs)
        self.received = [0] * len(specs)
        for spec in specs:
            parent, child = context.Pipe()
            self._pipes.append(parent)
            self._processes.append(
                context.Process(target=worker_main, args=(child, spec), daemon=True)
            )
            self._inboxes.append(asyncio.Queue())

    def start(self) -> None:
        for index, process in enumerate(self._processes):
            process.start()
            threading.Thread(target=self._listen, args=(index,), daemon=True).start()

    @property
    def pids(self) -> list[int]:
        return [int(process.pid) for process in self._processes]

    def _listen(self, index: int) -> None:
        """Reader thread of one worker's pipe; ends when the worker is gone."""
        pipe = self._pipes[index]
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                self._loop.call_soon_threadsafe(self._inboxes[index].put_nowait, None)
                return
            if message[0] == "progress":
                self.connected[index], self.received[index] = message[1], message[2]
            else:
                self._loop.call_soon_threadsafe(self._inboxes[index].put_nowait, message[1])

    async def _gather(self, kind: type[Any], timeout: float) -> list[Any]:
        async with asyncio.timeout(timeout):
            answers = [await inbox.get() for inbox in self._inboxes]
        if any(not isinstance(answer, kind) for answer in answers):
            raise RuntimeError("a bench worker exited early")
        return answers

    async def ready(self, timeout: float) -> list[Ready]:
        """Wait until every worker has done its handshakes."""
        return await self._gather(Ready, timeout)

    async def collect(self, timeout: float) -> list[Receipts]:
        """Ask every worker for what it received so far."""
        for pipe in self._pipes:
            pipe.send("collect")
        return await self._gather(Receipts, timeout)

    async def stop(self, timeout: float = 40.0) -> None:
        """Tell the workers to close their devices and exit; kill those that do not."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send("stop")
        deadline = time.monotonic() + timeout
        for process in self._processes:
            await asyncio.to_thread(process.join, max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)
        for pipe in self._pipes:
            pipe.close()
