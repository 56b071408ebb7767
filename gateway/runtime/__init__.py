"""What every server layer shares, knowing no other layer: settings, metrics, logs, event loop."""
