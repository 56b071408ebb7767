"""A small async device client of the gateway (AOI-1 over WebSocket), used by the tests,
the benchmark tool and ``aoi-ctl``; every wait has a timeout.

Reconnection is opt-in (``reconnect=True``; ``aoi-ctl device`` turns it on): once a
channel was activated, any close but the device's own leads to a new connection (URLs
in turn, full-jitter backoff) and the same clientID activated again, or, if the gateway
forgot it (4002, or Redis lost its data), the deviceNumber and its applications
registered again. Each notificationID is handed over once; redeliveries are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import msgspec

from gateway.client.errors import AoiError, DeviceClosed
from gateway.client.reconnect import (
    TRY_FAILED,
    Backoff,
    Known,
    Recent,
    Token,
    describe,
    open_any,
    with_token,
)

DEFAULT_TIMEOUT = 10.0
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_ENDED = (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR)
_GOING_AWAY = 1001
_SUPERSEDED = 4001
_LOST = 1006  # closed without a close frame
# In the notifications queue once the device is finished: it ends every wait for one.
_FINISHED: dict[str, Any] = {}
Listener = Callable[[dict[str, Any]], None]


class Device:
    """One AOI Client: requests with transactionIDs, pushed notifications, and (opt-in)
    reconnection. ``closed`` is set while no websocket is open, ``finished`` once the
    device is closed for good."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        owned: aiohttp.ClientSession | None,
        *,
        reconnect: Backoff | None = None,
        urls: Sequence[str] = (),
        session: aiohttp.ClientSession | None = None,
        on_event: Listener | None = None,
        ws_options: dict[str, Any] | None = None,
    ) -> None:
        self.ws = ws
        self._owned = owned
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.unmatched: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.finished = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.backoff = reconnect
        self.urls = list(urls)
        self.url = self.urls[0] if self.urls else None
        self._session = session
        self._ws_options = ws_options or {}
        self.token: Token | None = None  # sent at each (re)connection
        self._on_event = on_event
        self.clients: dict[str, Known] = {}
        self.channel_client: str | None = None  # the client whose channel is kept up
        self.reconnects = 0
        self._recent = Recent() if reconnect is not None else None
        self._closing = False
        self._reconnecting: asyncio.Task[None] | None = None
        self._superseded_level = 0
        self._reader = asyncio.create_task(self._read(ws))

    @classmethod
    async def connect(
        cls,
        url: str | Sequence[str],
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        token: Token | None = None,
        reconnect: bool | Backoff = False,
        on_event: Listener | None = None,
        **options: Any,
    ) -> Device:
        """Open a websocket to ``url`` (``http://host:port/ws``, or a list tried in turn).

        ``token`` is the device token (or a function giving a fresh one at each
        connection), sent as ``Authorization: Bearer``: needed when the node
        authenticates devices; a refused token raises ``aiohttp.WSServerHandshakeError``
        with 401. ``reconnect`` True (or a ``Backoff``) keeps the channel up across
        closes; ``on_event`` receives each close and reconnection as a dict.
        """
        urls = [url] if isinstance(url, str) else list(url)
        owned = None
        if session is None:
            session = owned = aiohttp.ClientSession()
        ws_options = {"timeout": aiohttp.ClientWSTimeout(ws_close=timeout), **options}
        try:
            ws, index = await open_any(session, urls, with_token(ws_options, token))
        except BaseException:
            if owned is not None:
                await owned.close()
            raise
        policy = Backoff() if reconnect is True else (reconnect or None)
        device = cls(
            ws, owned, reconnect=policy, session=session, on_event=on_event, ws_options=ws_options
        )
        device.token = token
        device.urls, device.url = urls[index:] + urls[:index], urls[index]
        return device

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reason = None
        try:
            while True:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._on_frame(_decoder.decode(message.data))
                elif message.type == aiohttp.WSMsgType.CLOSE:
                    reason = message.extra or None
                    await ws.close()
                    return
                elif message.type in _ENDED:
                    return
        finally:
            if ws is self.ws:
                self._ended(ws.close_code, reason)

    def _ended(self, code: int | None, reason: str | None) -> None:
        """The current websocket closed: fail its waits, then reconnect or finish."""
        self.close_code, self.close_reason = code, reason
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("websocket closed"))
        self.closed.set()
        if self._reconnecting is not None:
            return  # a reconnection try's connection: that try fails and the next one follows
        again = self.backoff is not None and not self._closing and self.channel_client is not None
        if not self._closing:
            self._emit(event="closed", code=code or _LOST, reason=reason, reconnecting=again)
        if again:
            self._reconnecting = asyncio.create_task(self._reconnect(code))
        else:
            self._finish()

    def _finish(self) -> None:
        """No more notifications will come: waits for one end (DeviceClosed)."""
        if not self.finished.is_set():
            self.finished.set()
            self.notifications.put_nowait(_FINISHED)

    def _emit(self, **event: Any) -> None:
        if self._on_event is not None:
            self._on_event(event)

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        recent = self._recent
        if recent is not None and frame.get("messageType") == "notificationDeliveryReq":
            notification_id = str(frame.get("notificationID"))
            if notification_id in recent:  # a redelivery after a reconnection
                code = recent.code(notification_id)
                if code is not None:
                    await self.acknowledge(notification_id, code)
                return
            recent.note(notification_id, None)
        self._route(frame)

    def _route(self, frame: dict[str, Any]) -> None:
        if frame.get("messageType") == "notificationDeliveryReq":
            self.notifications.put_nowait(frame)
            return
        future = self._waiting.pop(str(frame.get("transactionID")), None)
        if future is not None and not future.done():
            future.set_result(frame)
        else:
            self.unmatched.put_nowait(frame)

    async def send_text(self, text: str) -> None:
        """Send a raw text frame (for tests of bad input)."""
        await self.ws.send_str(text)

    async def request(
        self, frame: dict[str, Any], timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """Send a request with a fresh transactionID and wait for its response."""
        transaction = f"t{next(self._ids)}"
        future = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        await self.ws.send_str(_encoder.encode({**frame, "transactionID": transaction}).decode())
        try:
            async with asyncio.timeout(timeout):
                response: dict[str, Any] = await future
                return response
        finally:
            self._waiting.pop(transaction, None)

    async def _ok(self, message_type: str, **fields: str) -> dict[str, Any]:
        response = await self.request({"messageType": message_type, **fields})
        if response.get("code") != 200:
            raise AoiError(response)
        return response

    async def register(self, device_number: str) -> str:
        """AOI Client Registration; returns the clientID."""
        response = await self._ok("aoiClientRegistrationReq", deviceNumber=device_number)
        client_id = str(response["clientID"])
        self.clients.setdefault(client_id, Known()).device_number = device_number
        return client_id

    async def deregister(self, client_id: str) -> None:
        """AOI Client Deregistration; the device's own client is then not reconnected."""
        await self._ok("aoiClientDeregistrationReq", clientID=client_id)
        self.clients.pop(client_id, None)
        if client_id == self.channel_client:
            self.channel_client = None

    async def activate(self, client_id: str) -> None:
        await self._ok("notificationChannelActivationReq", clientID=client_id)
        self.clients.setdefault(client_id, Known())
        self.channel_client = client_id

    async def deactivate(self, client_id: str) -> None:
        await self._ok("notificationChannelDeactivationReq", clientID=client_id)
        if client_id == self.channel_client:
            self.channel_client = None

    async def register_application(self, client_id: str, application_id: str) -> str:
        """Client Application Registration; returns the registrationID."""
        response = await self._ok(
            "clientApplicationRegistrationReq", clientID=client_id, applicationID=application_id
        )
        registration_id = str(response["registrationID"])
        self.clients.setdefault(client_id, Known()).applications[application_id] = registration_id
        return registration_id

    async def deregister_application(self, client_id: str, application_id: str) -> None:
        await self._ok(
            "clientApplicationDeregistrationReq", clientID=client_id, applicationID=application_id
        )
        self.clients.get(client_id, Known()).applications.pop(application_id, None)

    async def next_notification(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next pushed ``notificationDeliveryReq``; waits through reconnections.
        DeviceClosed once the device is closed and not reconnecting, TimeoutError after
        ``timeout`` (a plain get: a timeout never takes a notification away)."""
        async with asyncio.timeout(timeout):
            note = await self.notifications.get()
        if note is _FINISHED:
            self.notifications.put_nowait(_FINISHED)  # for every later wait too
            raise DeviceClosed(self.close_code, self.close_reason)
        return note

    async def acknowledge(self, notification_id: str, code: int = 200) -> None:
        """Send ``notificationDeliveryRes`` (200 delivered, anything else rejected).

        A reconnecting device that is not connected now answers the redelivery instead.
        """
        frame = {
            "messageType": "notificationDeliveryRes",
            "notificationID": notification_id,
            "code": code,
            "desc": "OK" if code == 200 else "Rejected",
        }
        if self._recent is None:
            await self.ws.send_str(_encoder.encode(frame).decode())
            return
        self._recent.note(notification_id, code)
        with contextlib.suppress(*TRY_FAILED):
            await self.ws.send_str(_encoder.encode(frame).decode())

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> int | None:
        """Wait until the node closes the connection; returns the close code."""
        async with asyncio.timeout(timeout):
            await self.closed.wait()
        return self.close_code

    async def wait_reconnected(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until a connection is open again (at once if one is)."""
        async with asyncio.timeout(timeout):
            while self.closed.is_set() or self._reconnecting is not None:
                if self.finished.is_set():
                    raise DeviceClosed(self.close_code, self.close_reason)
                await asyncio.sleep(0.02)

    async def _reconnect(self, code: int | None) -> None:
        """Open a new connection and restore the channel, with backoff, until it works.
        After a 4001 the backoff grows on from where it was: two devices activating the
        same client must not take it from each other forever at full speed."""
        assert self.backoff is not None
        level = self._superseded_level if code == _SUPERSEDED else 0
        if code == _GOING_AWAY:  # that node drains or restarts: try the others first
            self.urls = self.urls[1:] + self.urls[:1]
        attempt = 0
        try:
            while self.backoff.max_attempts is None or attempt < self.backoff.max_attempts:
                delay = self.backoff.delay(level + attempt)
                attempt += 1
                self._emit(event="reconnecting", attempt=attempt, delaySeconds=round(delay, 3))
                await asyncio.sleep(delay)
                if await self._try_reconnect():
                    self.reconnects += 1
                    self._superseded_level = level + attempt if code == _SUPERSEDED else 0
                    self._emit(event="reconnected", clientID=self.channel_client, url=self.url)
                    return
            self._emit(event="gave-up", attempts=attempt)
        except DeviceClosed as gone:
            self._emit(event="gave-up", attempts=attempt, error=str(gone))
        finally:
            self._reconnecting = None
        self._finish()

    async def _try_reconnect(self) -> bool:
        """One try: connect (URLs in turn), then activate the channel's client again."""
        assert self._session is not None
        try:
            options = with_token(self._ws_options, self.token)
            ws, index = await open_any(self._session, self.urls, options)
        except TRY_FAILED as error:
            self._emit(event="reconnect-failed", error=describe(error))
            return False
        self.urls = self.urls[index:] + self.urls[:index]
        self.ws, self.url = ws, self.urls[0]
        self.closed.clear()
        self._reader = asyncio.create_task(self._read(ws))
        try:
            await self._restore()
        except (*TRY_FAILED, AoiError) as error:
            self._emit(event="reconnect-failed", error=describe(error))
            with contextlib.suppress(*TRY_FAILED):
                await ws.close()
            return False
        return not self.closed.is_set()

    async def _restore(self) -> None:
        """Activate the same client again; if the gateway forgot it, register its
        deviceNumber and applications again (DeviceClosed when that cannot be done)."""
        previous = self.channel_client
        assert previous is not None
        try:
            await self.activate(previous)
            return
        except AoiError as error:
            if error.code != 404:
                raise
        known = self.clients.get(previous, Known())
        if known.device_number is None:
            raise DeviceClosed(404, "the client is gone and its deviceNumber is unknown")
        client_id = await self.register(known.device_number)
        registrations = {
            app: await self.register_application(client_id, app) for app in known.applications
        }
        await self.activate(client_id)
        if client_id != previous:
            self.clients.pop(previous, None)
        self._emit(
            event="reregistered",
            clientID=client_id,
            previousClientID=previous,
            registrationIDs=registrations,
        )

    async def close(self) -> None:
        """Close for good: no reconnection; waits for notifications end with DeviceClosed."""
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DEFAULT_TIMEOUT):
                await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        self._finish()
        if self._owned is not None:
            await self._owned.close()

    async def __aenter__(self) -> Device:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
