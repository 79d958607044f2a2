"""A session's inbound media: a row for each file a message brings, then its bytes in the store.

The engine describes the media (with a reference only it understands); this
module gives it an id, a URL and a row that travels with ``message.received``
(through the journal, committed in the event's transaction), then, once that is
committed, fetches the bytes through the engine into a file under the data dir, checks the
size limit, hashes it, puts it in the media store and reports ``message.media``.
``RELAY_MEDIA_DOWNLOAD`` says when: ``eager`` as soon as the message arrives,
``lazy`` when the web asks (a ``media_fetch`` command, on the first GET), ``off``
never (no row, no bytes). One fetch per media file at a time: a GET that comes
while the eager fetch runs joins it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from relay.core.config import Settings
from relay.core.enums import INBOUND_MEDIA_TYPES, MediaDownload, MediaStatus
from relay.core.media_store import MediaStore, StoreUnavailable, media_key
from relay.core.models import Media
from workers.database_watch import DatabaseWatch
from workers.engines.base import MEDIA_REFERENCE, Engine, EngineError, NotConnected
from workers.pending_event import MediaRow
from workers.reporter import SessionReporter

log = logging.getLogger("relay.worker.media")

MEDIA_URL = "/v1/media/{media_id}"
# A store that fails a put is tried this many times (backing off 0.5, 1, 2 s) before the media is
# left pending for a later GET to fetch again.
STORE_ATTEMPTS = 4
OFF_ERROR = "media downloads are off on this Relay (RELAY_MEDIA_DOWNLOAD=off)"
# Pending media a session fetches each time it connects, oldest first; the rest wait for a GET.
PENDING_PER_CONNECT = 100


def too_large(size: int, limit: int) -> str:
    return f"the media is {size} bytes, more than this Relay stores (RELAY_MEDIA_MAX_BYTES={limit})"


def public_media(row: Media) -> dict[str, Any]:
    """The ``media`` object events carry (SPEC "Inbound media")."""
    described: dict[str, Any] = {
        "id": row.id,
        "type": row.type,
        "mimetype": row.mimetype,
        "size": row.size,
        "filename": row.filename,
        "sha256": row.sha256,
        "url": MEDIA_URL.format(media_id=row.id),
        "status": row.status,
    }
    if row.error:
        described["error"] = row.error
    return described


class MediaFetcher:
    def __init__(
        self,
        *,
        settings: Settings,
        tenant_id: str,
        session_id: str,
        reporter: SessionReporter,
        engine: Callable[[], Awaitable[Engine]],
        watch: DatabaseWatch,
    ) -> None:
        self._settings = settings
        self._tenant_id = tenant_id
        self._session_id = session_id
        self._reporter = reporter
        self._engine = engine
        self._watch = watch
        self._store = MediaStore.from_settings(settings)
        self._fetches: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._incoming = settings.data_dir / "media-incoming" / session_id

    def described(self, data: dict[str, Any]) -> tuple[dict[str, Any], MediaRow | None]:
        """``data`` as ``message.received`` carries it (its media with an id, URL and status),
        and the media's row, which the ledger writes in the event's transaction.

        Nothing here touches the database: the id is minted here, and the row travels with
        the event through the journal, so an engine never waits for the database and the URL
        answers as soon as the event is in the ledger. Downloads ``off``: no row.
        """
        media = data.get("media")
        if data.get("type") not in INBOUND_MEDIA_TYPES or not isinstance(media, dict):
            return data, None
        media = dict(media)
        reference = media.pop(MEDIA_REFERENCE, None) or {}
        if self._settings.media_download == MediaDownload.OFF:
            media.update(id=None, url=None, sha256=None, status=MediaStatus.UNAVAILABLE, error=OFF_ERROR)
            media.setdefault("filename", None)
            return {**data, "media": media}, None
        status, error = MediaStatus.PENDING, None
        size, limit = int(media.get("size") or 0), self._settings.media_max_bytes
        if size > limit:
            # Refused before any byte moves: WhatsApp's description says how large it is.
            status, error = MediaStatus.UNAVAILABLE, too_large(size, limit)
        row = MediaRow(
            id=Media.make_id(),
            tenant_id=self._tenant_id,
            session_id=self._session_id,
            whatsapp_id=_column(data.get("whatsapp_id"), 128) or "",
            type=str(data["type"]),
            mimetype=_column(media.get("mimetype"), 200),
            size=media.get("size"),
            filename=_column(media.get("filename"), 500),
            status=status,
            error=error,
            reference=reference,
        )
        extra = {key: media[key] for key in ("caption", "ptt") if key in media}
        return {**data, "media": {**public_media(row.to_model()), **extra}}, row

    def after_received(self, row: MediaRow | None) -> None:
        """With downloads ``eager``, fetch the media once its row (and its event) is committed."""
        if self._settings.media_download != MediaDownload.EAGER or row is None:
            return
        if row.status == MediaStatus.PENDING:
            self._spawn(self._fetch_once_committed(row.id))

    def on_connected(self) -> None:
        """With downloads ``eager``, fetch what this session left pending, now that it is connected.

        A media stays pending when its fetch could not run: its message came from a dead
        worker's journal (replayed by another worker, which never saw it arrive), the session
        or the store was away. Without this only a GET would fetch it, and WhatsApp's copy
        may be gone by then.
        """
        if self._settings.media_download == MediaDownload.EAGER:
            self._spawn(self._fetch_pending())

    async def _fetch_pending(self) -> None:
        if not await self._reporter.flush():
            return
        pending = await self._watch.call(
            lambda: (
                Media.filter(session_id=self._session_id, status=MediaStatus.PENDING)
                .order_by("id")
                .limit(PENDING_PER_CONNECT)
                .values_list("id", flat=True)
            )
        )
        for media_id in pending:
            await self.fetch(str(media_id))

    async def _fetch_once_committed(self, media_id: str) -> None:
        # Everything reported before the fetch was asked for, the message included, is settled:
        # committed, or discarded with a lost lease (then there is no row and no fetch).
        if await self._reporter.flush():
            await self.fetch(media_id)

    def fetch(self, media_id: str) -> asyncio.Task[None]:
        """Fetch the media's bytes, or join the fetch already running."""
        task = self._fetches.get(media_id)
        if task is None or task.done():
            task = asyncio.create_task(self._fetch(media_id), name=f"media-{media_id}")
            self._fetches[media_id] = task
            task.add_done_callback(lambda done: self._forget(media_id, done))
        return task

    def _forget(self, media_id: str, task: asyncio.Task[None]) -> None:
        if self._fetches.get(media_id) is task:
            del self._fetches[media_id]

    async def close(self) -> None:
        tasks = [*self._fetches.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _fetch(self, media_id: str) -> None:
        row = await self._watch.call(lambda: Media.get_or_none(id=media_id, session_id=self._session_id))
        if row is None or row.status != MediaStatus.PENDING:
            return
        path = self._incoming / media_id
        try:
            await self._download(row, path)
        except NotConnected as exc:
            # Not the media's fault: it stays pending, and a GET asks again once the session is back.
            log.info("session %s: media %s not fetched yet: %s", self._session_id, media_id, exc)
            return
        except StoreUnavailable as exc:
            # Nor is a store that is down: the media stays pending and a GET fetches it again.
            log.warning(
                "session %s: media %s not stored, the store is unavailable: %s",
                self._session_id,
                media_id,
                exc,
            )
            return
        except EngineError as exc:
            row.status, row.error = MediaStatus.UNAVAILABLE, str(exc)
        except Exception as exc:
            log.exception("session %s: storing media %s failed", self._session_id, media_id)
            row.status, row.error = MediaStatus.UNAVAILABLE, f"storing the media failed: {exc}"
        finally:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        await self._watch.call(
            lambda: row.save(update_fields=["status", "error", "size", "sha256", "stored_at"])
        )
        media_event = {"whatsapp_id": row.whatsapp_id, "type": row.type, "media": public_media(row)}
        await self._reporter.message_media(media_event)

    async def _download(self, row: Media, path: Path) -> None:
        limit = self._settings.media_max_bytes
        engine = await self._engine()
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await engine.download_media(dict(row.reference), path)
        size, row.sha256 = await asyncio.to_thread(_size_and_sha256, path)
        if size > limit:
            raise EngineError(too_large(size, limit))
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(StoreUnavailable),
            stop=stop_after_attempt(STORE_ATTEMPTS),
            wait=wait_exponential(multiplier=0.5, max=4),
            reraise=True,
        ):
            with attempt:
                await self._store.put_file(media_key(row.tenant_id, row.id), path, mimetype=row.mimetype)
        row.size, row.status = size, MediaStatus.STORED
        row.stored_at = datetime.now(UTC)


def _column(value: Any, length: int) -> str | None:
    """What WhatsApp sent, as the media row's column can hold it (a name too long is cut)."""
    if not value:
        return None
    return str(value).replace("\x00", "")[:length] or None


def _size_and_sha256(path: Path) -> tuple[int, str]:
    with path.open("rb") as handle:
        return path.stat().st_size, hashlib.file_digest(handle, "sha256").hexdigest()
