"""``python -m gateway`` starts a node."""

from gateway.cli import main

main()
