"""The device side: the ``/ws`` upgrade, one session per websocket, the channels and their pump."""
