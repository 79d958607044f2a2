"""How ``GET /v1/media/{media_id}`` is documented: any media type, as bytes, and its request headers."""

from __future__ import annotations

from typing import Any

# The answer's type is the file's own (``Content-Type`` from the message's mimetype).
BINARY: dict[str, dict[str, Any]] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}

RANGE_HEADERS: list[dict[str, Any]] = [
    {
        "name": "Range",
        "in": "header",
        "required": False,
        "description": "One byte range, e.g. `bytes=0-1023`, `bytes=1024-` or `bytes=-500` (206 or 416)",
        "schema": {"type": "string"},
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "The ETag of a copy the caller holds (the file's SHA-256, quoted): 304 if unchanged",
        "schema": {"type": "string"},
    },
]
