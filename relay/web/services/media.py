"""Serving inbound media: the tenant's file, whole or a byte range, or a short-lived signed URL.

A file not fetched yet (``RELAY_MEDIA_DOWNLOAD=lazy``, or an eager fetch that
waited for the session to reconnect) is asked of the session's owning worker
with a ``media_fetch`` command, like any other command; the GET then waits a
bounded time for the row to say ``stored`` (or ``unavailable``).
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from relay.core.commands import submit_command
from relay.core.config import Settings
from relay.core.constants import OUTAGE_RETRY_AFTER
from relay.core.enums import CommandKind, MediaStatus, SessionStatus
from relay.core.media_store import MediaStore, StoredRange, StoreUnavailable, media_key
from relay.core.models import Media
from relay.core.problems import Problem, not_found
from relay.web.services.session_lookup import visible_session

# The worker acknowledges a fetch command at once; the fetch itself may take this long.
FETCH_COMMAND_WAIT = 10.0
FETCH_WAIT = 60.0
FETCH_POLL = 0.2
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True, slots=True)
class MediaFile:
    """What the route answers: a redirect, or (part of) the stored file with its description."""

    row: Media
    filename: str
    part: StoredRange | None = None
    partial: bool = False
    redirect: str | None = None


async def visible_media(tenant_id: str, media_id: str) -> Media:
    """The tenant's media row, or 404: another tenant's id looks unknown."""
    row = await Media.get_or_none(id=media_id, tenant_id=tenant_id)
    if row is None:
        raise not_found("media")
    return row


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A ``Range: bytes=a-b`` header as (start, end exclusive); ``None`` for the whole file.

    One range only: a header this does not understand (several ranges, other units) is
    ignored and the whole file is sent, as RFC 9110 allows. A range that starts past the
    end is a 416.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(0) == "bytes=-":
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise Problem(416, f"the range asks for no bytes of a {size}-byte file")
        return max(size - suffix, 0), size
    start = int(first)
    if last and int(last) < start:
        return None  # not a range at all (RFC 9110: ignored)
    if start >= size:
        raise Problem(416, f"the range starts past the end of the {size}-byte file")
    return start, min(int(last) + 1, size) if last else size


async def media_file(
    settings: Settings, redis: Redis, tenant_id: str, media_id: str, range_header: str | None
) -> MediaFile:
    row = await visible_media(tenant_id, media_id)
    if row.status == MediaStatus.PENDING:
        row = await _fetched(redis, tenant_id, row)
    if row.status == MediaStatus.EXPIRED:
        days = f"{settings.media_retention_days:g}"
        raise Problem(410, f"the media was removed after the retention period ({days} days)")
    if row.status == MediaStatus.UNAVAILABLE:
        raise Problem(409, f"the media is unavailable: {row.error}")
    filename = row.filename or f"{row.id}{mimetypes.guess_extension(row.mimetype or '') or ''}"
    store = MediaStore.from_settings(settings)
    key = media_key(row.tenant_id, row.id)
    if settings.media_redirect:
        return MediaFile(row, filename, redirect=await store.signed_url(key))
    wanted = byte_range(range_header, int(row.size or 0))
    try:
        part = await store.read(key, wanted)
    except FileNotFoundError:
        raise Problem(410, "the media's bytes are no longer in the store") from None
    except StoreUnavailable as exc:
        detail = f"the media store is unavailable ({exc}); retry in {OUTAGE_RETRY_AFTER} s"
        raise Problem(503, detail, retry_after=OUTAGE_RETRY_AFTER) from exc
    return MediaFile(row, filename, part=part, partial=wanted is not None)


async def _fetched(redis: Redis, tenant_id: str, row: Media) -> Media:
    """Ask the owning worker to fetch the media, and wait (bounded) until it has."""
    try:
        session = await visible_session(tenant_id, row.session_id)
    except Problem as exc:
        # The media is the tenant's; only its session is gone, and with it the way to fetch it.
        raise Problem(409, "the media was never fetched and its session is deleted") from exc
    if session.status != SessionStatus.CONNECTED:
        raise Problem(
            409, f"the media is not fetched yet and the session is {session.status}; retry once connected"
        )
    params = {"media_id": row.id}
    result = await submit_command(redis, session.id, CommandKind.MEDIA_FETCH, params, wait=FETCH_COMMAND_WAIT)
    if result is None:
        raise Problem(504, "the session's worker did not answer the media fetch in time; retry")
    if not result.ok:
        raise Problem(409, f"the media cannot be fetched now: {result.error}")
    deadline = time.monotonic() + FETCH_WAIT
    while row.status == MediaStatus.PENDING and time.monotonic() < deadline:
        await asyncio.sleep(FETCH_POLL)
        await row.refresh_from_db()
    if row.status == MediaStatus.PENDING:
        raise Problem(504, "the media is still being fetched; retry")
    return row
