"""The application-server HTTP API (``/v1``): send, batch, status, cancel, introspection."""
