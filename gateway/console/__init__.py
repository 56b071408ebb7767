"""The web console: the operator console, the device page and the JavaScript client,
served from the package's ``static/`` folder, and the console's ``config.json``."""
