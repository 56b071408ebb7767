"""Clients: a device over AOI-1, an application server over HTTP (never imports the server)."""

from gateway.client.appserver import AppServer
from gateway.client.device import Device
from gateway.client.errors import AoiError, DeviceClosed
from gateway.client.reconnect import Backoff

__all__ = ["AoiError", "AppServer", "Backoff", "Device", "DeviceClosed"]
