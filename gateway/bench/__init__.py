"""``aoi-bench``: load generator, local Redis and nodes, measurements (the server never uses it)."""
