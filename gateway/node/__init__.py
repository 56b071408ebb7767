"""One node: lifecycle, node bus, aiohttp application and drain, operations endpoints, CLI."""
