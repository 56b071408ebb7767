"""Helpers of the tests: AOI-1 calls with their envelope checked, and metric samples."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp

from gateway.client import AppServer, Device
from tests.conftest import device_number
from tests.contract import DESC

ID_ALPHABET = re.compile(r"[A-Za-z0-9_-]{1,64}")


UNKNOWN_ID = "AAAAAAAAAAA" + "B" * 22


TIMEOUT = 5.0


RESPONSE_OF = {
    "aoiClientRegistrationReq": "aoiClientRegistrationRes",
    "aoiClientDeregistrationReq": "aoiClientDeregistrationRes",
    "notificationChannelActivationReq": "notificationChannelActivationRes",
    "notificationChannelDeactivationReq": "notificationChannelDeactivationRes",
    "clientApplicationRegistrationReq": "clientApplicationRegistrationRes",
    "clientApplicationDeregistrationReq": "clientApplicationDeregistrationRes",
}


async def call(device: Device, message_type: str, **fields: Any) -> dict[str, Any]:
    """Send one request; check the response envelope (type, desc, detail of a 400)."""
    response = await device.request({"messageType": message_type, **fields}, timeout=TIMEOUT)
    assert response["messageType"] == RESPONSE_OF[message_type], response
    assert response["desc"] == DESC[response["code"]], response
    if response["code"] == 400:
        assert isinstance(response.get("detail"), str) and response["detail"].strip()
    return response


async def code_of(device: Device, message_type: str, **fields: Any) -> int:
    return int((await call(device, message_type, **fields))["code"])


async def still_open(device: Device) -> bool:
    """The connection answers a request (so the node did not close it)."""
    response = await call(device, "aoiClientRegistrationReq", deviceNumber=device_number())
    return response["code"] == 200 and not device.closed.is_set()


async def no_notification(device: Device, within: float = 0.5) -> bool:
    """True if nothing is pushed to ``device`` within ``within`` seconds."""
    try:
        await device.next_notification(timeout=within)
    except TimeoutError:
        return True
    return False


async def metric_values(http: aiohttp.ClientSession, url: str, name: str) -> dict[str, float]:
    """Samples of one metric family by label text, e.g. ``{code="200",message_type="x"}``."""
    async with asyncio.timeout(TIMEOUT), http.get(url + "/metrics") as response:
        assert response.status == 200
        body = await response.text()
    values: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line[len(name) :].rpartition(" ")
            values[labels] = float(value)
    return values


def sample(values: dict[str, float], **labels: str) -> float:
    for text, value in values.items():
        if all(f'{key}="{wanted}"' in text for key, wanted in labels.items()):
            return value
    return 0.0


def increase(before: dict[str, float], after: dict[str, float], **labels: str) -> float:
    """How much the sample with ``labels`` grew between two reads of a metric."""
    return sample(after, **labels) - sample(before, **labels)


async def ready_device(connect: Any, url: str, activate: bool = True) -> tuple[Device, str, str]:
    """A registered device with one application, its channel active unless told otherwise."""
    device = await connect(url)
    client_id = await device.register(device_number())
    registration_id = await device.register_application(client_id, "com.example.mail")
    if activate:
        await device.activate(client_id)
    return device, client_id, registration_id


async def status_of(api: AppServer, notification_id: str) -> str:
    status, body = await api.status(notification_id)
    assert status == 200
    return str(body["status"])


ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


async def status_is(api: AppServer, notification_id: str, expected: str) -> bool:
    return await status_of(api, notification_id) == expected


async def metric_value(http: aiohttp.ClientSession, url: str, name: str) -> float:
    """The value of an unlabelled metric (0 when absent)."""
    async with asyncio.timeout(TIMEOUT), http.get(url + "/metrics") as response:
        body = await response.text()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0
