"""Serving a fixed set of packaged files by name: the dashboard's modules and Swagger UI's bundle.

Each directory's files are listed once at import; a request names one of them
or gets the API's 404, so no path a client sends ever reaches the filesystem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from starlette.responses import FileResponse

from relay.core.problems import not_found
from relay.web.dashboard.headers import page_headers

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# How /openapi.json shows an asset's answer.
ASSET_CONTENT = {
    "text/javascript": {"schema": {"type": "string"}, "example": "export function render(context) { ... }"},
    "text/css": {"schema": {"type": "string"}, "example": ":root { --ink: #1b1f24; }"},
}


def listed(directory: Path, names: Iterable[str] | None = None) -> dict[str, Path]:
    """The servable files of ``directory`` by name: those with a known type (or only ``names``)."""
    wanted = set(names) if names is not None else None
    return {
        path.name: path
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in MEDIA_TYPES and (wanted is None or path.name in wanted)
    }


def serve(files: Mapping[str, Path], name: str, policy: str) -> FileResponse:
    path = files.get(name)
    if path is None:
        raise not_found("file")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=page_headers(policy))
