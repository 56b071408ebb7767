"""AOI-1 itself: frames, procedures and their registry, error codes, IDs (no aiohttp, no Redis)."""
