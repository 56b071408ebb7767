"""Clients: a device over AOI-1, an application server over HTTP (never imports the server)."""

from gateway.client.appserver import AppServer
from gateway.client.device import AoiError, Device

__all__ = ["AoiError", "AppServer", "Device"]
