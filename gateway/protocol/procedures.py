"""The AOI-1 procedures: one handler per request type, dispatched by type.

Handlers take a typed request and the connection it arrived on and return the
response; they raise GatewayError for the contract's error codes. They never
touch the socket or build a Redis key: the connection and the directory they use
are Protocols that the websocket session and the store implement.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from gateway.protocol import ids
from gateway.protocol.errors import (
    UNKNOWN_CLIENT,
    Conflict,
    GatewayError,
    NotFound,
    Unavailable,
    WrongDevice,
)
from gateway.protocol.frames import (
    AoiClientDeregistrationReq,
    AoiClientDeregistrationRes,
    AoiClientRegistrationReq,
    AoiClientRegistrationRes,
    ClientApplicationDeregistrationReq,
    ClientApplicationDeregistrationRes,
    ClientApplicationRegistrationReq,
    ClientApplicationRegistrationRes,
    NotificationChannelActivationReq,
    NotificationChannelActivationRes,
    NotificationChannelDeactivationReq,
    NotificationChannelDeactivationRes,
    Request,
    Response,
    reply,
)

log = logging.getLogger(__name__)


class Directory(Protocol):
    """Where registrations, applications and channel ownership are kept (the store).

    Every method naming a clientID takes the connection's authenticated deviceNumber
    (``device``, None without device authentication) and checks it in the same step as
    the work: NotFound for an unknown clientID first, then WrongDevice for a client of
    another device, and then nothing has changed.
    """

    async def register(self, device_number: str) -> str: ...

    async def check_client(self, client_id: str, device: str | None) -> None: ...

    async def deregister(
        self, client_id: str, device: str | None, node: str, conn: str
    ) -> None: ...

    async def activate(self, client_id: str, device: str | None, node: str, conn: str) -> int: ...

    async def deactivate(
        self, client_id: str, device: str | None, node: str, conn: str
    ) -> bool: ...

    async def register_application(
        self, client_id: str, device: str | None, application_id: str, limit: int
    ) -> str: ...

    async def deregister_application(
        self, client_id: str, device: str | None, application_id: str
    ) -> None: ...


class Connection(Protocol):
    """The connection a request arrived on, as the procedures see it."""

    @property
    def conn_id(self) -> str: ...

    @property
    def node_id(self) -> str: ...

    @property
    def draining(self) -> bool: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def max_applications(self) -> int: ...

    @property
    def device_number(self) -> str | None:
        """The deviceNumber of the connection's device token; None without device
        authentication (then any deviceNumber and clientID may be named)."""

    @property
    def channel_client(self) -> str | None:
        """The clientID whose channel this connection carries, if any."""

    def wrong_device(self) -> None:
        """A request was refused for naming another device (it changed nothing)."""

    def attach(self, client_id: str, tag: str, epoch: int) -> None:
        """Make this connection the client's channel (after a successful activation)."""

    def drop_channel(self) -> None:
        """Stop pushing on this connection (ownership was given up in Redis)."""


Handler = Callable[[Any, Connection], Awaitable[Response]]


async def register_client(request: AoiClientRegistrationReq, connection: Connection) -> Response:
    device = connection.device_number
    if device is not None and request.deviceNumber != device:
        raise WrongDevice("deviceNumber: not the device of this connection's token")
    client_id = await connection.directory.register(request.deviceNumber)
    return reply(AoiClientRegistrationRes, 200, clientID=client_id)


async def deregister_client(
    request: AoiClientDeregistrationReq, connection: Connection
) -> Response:
    await connection.directory.deregister(
        request.clientID, connection.device_number, connection.node_id, connection.conn_id
    )
    _drop_own_channel(connection, request.clientID)
    return reply(AoiClientDeregistrationRes, 200)


async def activate_channel(
    request: NotificationChannelActivationReq, connection: Connection
) -> Response:
    if connection.draining:
        raise Unavailable("the node is draining; reconnect to another node")
    directory, client_id = connection.directory, request.clientID
    tag = ids.tag_of(client_id)
    if tag is None:
        raise NotFound(UNKNOWN_CLIENT)
    current = connection.channel_client
    if current is not None and current != client_id:
        # An unknown clientID (404) and another device's (403) come before this
        # connection's own state (409): one read, only in this rare case.
        await directory.check_client(client_id, connection.device_number)
        raise Conflict("clientID: this connection carries the channel of another client")
    epoch = await directory.activate(
        client_id, connection.device_number, connection.node_id, connection.conn_id
    )
    connection.attach(client_id, tag, epoch)
    return reply(NotificationChannelActivationRes, 200)


async def deactivate_channel(
    request: NotificationChannelDeactivationReq, connection: Connection
) -> Response:
    await connection.directory.deactivate(
        request.clientID, connection.device_number, connection.node_id, connection.conn_id
    )
    _drop_own_channel(connection, request.clientID)
    return reply(NotificationChannelDeactivationRes, 200)


async def register_application(
    request: ClientApplicationRegistrationReq, connection: Connection
) -> Response:
    registration_id = await connection.directory.register_application(
        request.clientID,
        connection.device_number,
        request.applicationID,
        connection.max_applications,
    )
    return reply(ClientApplicationRegistrationRes, 200, registrationID=registration_id)


async def deregister_application(
    request: ClientApplicationDeregistrationReq, connection: Connection
) -> Response:
    await connection.directory.deregister_application(
        request.clientID, connection.device_number, request.applicationID
    )
    return reply(ClientApplicationDeregistrationRes, 200)


def _drop_own_channel(connection: Connection, client_id: str) -> None:
    if connection.channel_client == client_id:
        connection.drop_channel()


HANDLERS: dict[type[Request], Handler] = {
    AoiClientRegistrationReq: register_client,
    AoiClientDeregistrationReq: deregister_client,
    NotificationChannelActivationReq: activate_channel,
    NotificationChannelDeactivationReq: deactivate_channel,
    ClientApplicationRegistrationReq: register_application,
    ClientApplicationDeregistrationReq: deregister_application,
}


async def answer(request: Request, connection: Connection) -> Response:
    """Run the procedure of ``request``; errors become its response type with their code."""
    try:
        response = await HANDLERS[type(request)](request, connection)
    except WrongDevice as error:
        connection.wrong_device()
        response = reply(request.response, error.code, error.detail)
    except GatewayError as error:
        response = reply(request.response, error.code, error.detail)
    except Exception:
        log.exception("procedure failed: %s", type(request).__name__)
        response = reply(request.response, 500, "internal error")
    response.transactionID = request.transactionID
    return response
