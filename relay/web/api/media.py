"""Tenant route for inbound media: ``GET /v1/media/{media_id}``, the ``url`` a message's ``media`` names."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response, StreamingResponse

from relay.web.api.operations import DATABASE, Access, Call, Routes
from relay.web.schemas.media import BINARY, RANGE_HEADERS
from relay.web.services import media as service

# A stored file is served while Redis is away; only one not fetched yet needs it (a command to
# the session's worker), and that call answers 503 like any other during an outage.
routes = Routes(tag="media", access=Access.TENANT, needs=DATABASE)


@routes.add(
    "GET",
    "/v1/media/{media_id}",
    "The bytes of a received image, video, audio, document or sticker",
    status=200,
    also={
        206: "Part of the file, as the Range header asked",
        304: "Not modified (If-None-Match matched the ETag)",
        307: "A short-lived signed URL to the file in the store (RELAY_MEDIA_REDIRECT)",
    },
    errors=(404, 409, 410, 416, 504),
    content=BINARY,
    parameters=RANGE_HEADERS,
)
async def get_media(call: Call[None]) -> Response:
    headers = call.request.headers
    found = await service.media_file(
        call.settings, call.redis, call.tenant_id, call.path("media_id"), headers.get("range")
    )
    if found.redirect is not None:
        return RedirectResponse(found.redirect, status_code=307, headers={"Cache-Control": "no-store"})
    row, part = found.row, found.part
    assert part is not None
    etag = f'"{row.sha256}"'
    described = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": _disposition(found.filename),
        "Cache-Control": "private, max-age=3600",
    }
    if headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=described)
    described["Content-Length"] = str(part.end - part.start)
    if found.partial:
        described["Content-Range"] = f"bytes {part.start}-{part.end - 1}/{part.size}"
    return StreamingResponse(
        part.chunks,
        status_code=206 if found.partial else 200,
        media_type=row.mimetype or "application/octet-stream",
        headers=described,
    )


def _disposition(filename: str) -> str:
    """``inline`` with the file's name; a name that is not plain ASCII goes in ``filename*`` (RFC 6266)."""
    quoted = quote(filename)
    if quoted != filename:
        return f"inline; filename*=utf-8''{quoted}"
    return f'inline; filename="{filename}"'
