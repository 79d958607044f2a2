"""Removes inbound media past ``RELAY_MEDIA_RETENTION_DAYS`` (arq cron, every few seconds).

The bytes are deleted from the store and the row is kept, marked ``expired``, so
a GET of its URL answers 410 Gone rather than a 404 that looks like a wrong id.
A pending or unavailable row past retention is marked too: its fetch will not be
retried. Deleting first and marking after means a sweep cut short leaves rows
that the next sweep deletes again (a no-op) and marks.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.cron import cron

from relay.core.config import Settings
from relay.core.constants import MEDIA_SWEEP_EVERY_SECONDS, MEDIA_SWEEP_LIMIT
from relay.core.enums import MediaStatus
from relay.core.media_store import MediaStore, media_key
from relay.core.models import Media

log = logging.getLogger("relay.worker.media")


async def sweep_expired_media(settings: Settings, store: MediaStore, *, now: datetime | None = None) -> int:
    """Delete the bytes of media older than the retention and mark their rows; returns how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.media_retention_days)
    live = [MediaStatus.PENDING, MediaStatus.STORED, MediaStatus.UNAVAILABLE]
    rows = (
        await Media.filter(status__in=live, created_at__lt=cutoff)
        .order_by("created_at")
        .limit(MEDIA_SWEEP_LIMIT)
        .values_list("id", "tenant_id", "status")
    )
    for media_id, tenant_id, status in rows:
        if status == MediaStatus.STORED:
            await store.delete(media_key(tenant_id, media_id))
    if rows:
        await Media.filter(id__in=[row[0] for row in rows]).update(status=MediaStatus.EXPIRED)
        log.info("media sweeper removed %d files past %g days", len(rows), settings.media_retention_days)
    return len(rows)


async def sweep_media(ctx: dict[str, Any]) -> int:
    """arq cron entry point. During a database outage it skips a beat: the next sweep is seconds away."""
    settings: Settings = ctx["settings"]
    try:
        return await sweep_expired_media(settings, MediaStore.from_settings(settings))
    except Exception:
        watch = ctx.get("database_watch")
        if watch is None or await watch.reachable():
            raise
        log.debug("media sweep skipped: the database does not answer")
    return 0


CRON_JOBS: list[Any] = [
    cron(
        sweep_media,
        name="media:sweep",
        second=set(range(0, 60, MEDIA_SWEEP_EVERY_SECONDS)),
        run_at_startup=True,
        unique=True,
        timeout=60,
        keep_result=0,
        max_tries=1,
    )
]
