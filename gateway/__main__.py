"""``python -m gateway`` starts a node."""

from gateway.node.cli import main

main()
