"""Facts of the wire contract the tests check against, written out independently of the code."""

from __future__ import annotations

# Contract section 1.2: every response's desc is the reason phrase of its code.
DESC = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
