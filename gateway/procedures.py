"""The AOI-1 procedures: one handler per request type, dispatched by type.

Handlers take a typed request and the session it arrived on and return the
response; they raise GatewayError for the contract's error codes. They never
touch the socket or build a Redis key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from gateway import ids
from gateway.errors import Conflict, GatewayError, NotFound, Unavailable
from gateway.frames import (
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
from gateway.store import UNKNOWN_CLIENT

if TYPE_CHECKING:
    from gateway.session import Session

log = logging.getLogger(__name__)
Handler = Callable[[Any, "Session"], Awaitable[Response]]


async def register_client(request: AoiClientRegistrationReq, session: Session) -> Response:
    client_id = await session.node.store.register(request.deviceNumber)
    return reply(AoiClientRegistrationRes, 200, clientID=client_id)


async def deregister_client(request: AoiClientDeregistrationReq, session: Session) -> Response:
    await session.node.store.deregister(request.clientID, session.node.node_id, session.conn_id)
    _drop_own_channel(session, request.clientID)
    return reply(AoiClientDeregistrationRes, 200)


async def activate_channel(request: NotificationChannelActivationReq, session: Session) -> Response:
    if session.node.draining:
        raise Unavailable("the node is draining; reconnect to another node")
    current = session.channel
    if current is not None and current.client_id != request.clientID:
        raise Conflict("clientID: this connection carries the channel of another client")
    tag = ids.tag_of(request.clientID)
    if tag is None:
        raise NotFound(UNKNOWN_CLIENT)
    epoch = await session.node.store.activate(
        request.clientID, session.node.node_id, session.conn_id
    )
    session.attach(request.clientID, tag, epoch)
    return reply(NotificationChannelActivationRes, 200)


async def deactivate_channel(
    request: NotificationChannelDeactivationReq, session: Session
) -> Response:
    await session.node.store.deactivate(request.clientID, session.node.node_id, session.conn_id)
    _drop_own_channel(session, request.clientID)
    return reply(NotificationChannelDeactivationRes, 200)


async def register_application(
    request: ClientApplicationRegistrationReq, session: Session
) -> Response:
    registration_id = await session.node.store.register_application(
        request.clientID, request.applicationID, session.node.settings.max_applications
    )
    return reply(ClientApplicationRegistrationRes, 200, registrationID=registration_id)


async def deregister_application(
    request: ClientApplicationDeregistrationReq, session: Session
) -> Response:
    await session.node.store.deregister_application(request.clientID, request.applicationID)
    return reply(ClientApplicationDeregistrationRes, 200)


def _drop_own_channel(session: Session, client_id: str) -> None:
    if session.channel is not None and session.channel.client_id == client_id:
        session.drop_channel()


HANDLERS: dict[type[Request], Handler] = {
    AoiClientRegistrationReq: register_client,
    AoiClientDeregistrationReq: deregister_client,
    NotificationChannelActivationReq: activate_channel,
    NotificationChannelDeactivationReq: deactivate_channel,
    ClientApplicationRegistrationReq: register_application,
    ClientApplicationDeregistrationReq: deregister_application,
}


async def answer(request: Request, session: Session) -> Response:
    """Run the procedure of ``request``; errors become its response type with their code."""
    try:
        response = await HANDLERS[type(request)](request, session)
    except GatewayError as error:
        response = reply(request.response, error.code, error.detail)
    except Exception:
        log.exception("procedure failed: %s", type(request).__name__)
        response = reply(request.response, 500, "internal error")
    response.transactionID = request.transactionID
    return response
