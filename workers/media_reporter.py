"""The reporter an engine gets: the runner's ``SessionReporter``, with inbound media made fetchable.

Every report passes straight through, except ``message.received`` for a media
message, whose ``media`` first gets its id and URL, and a row that the ledger
writes with the event (``workers.media_fetch``): no database on the way. A
``connected`` status also starts fetching what media the session left pending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from relay.core.enums import EventType, SessionStatus
from workers.media_fetch import MediaFetcher
from workers.reporter import SessionReporter


class MediaReporter:
    """An ``EngineReporter``."""

    def __init__(self, reporter: SessionReporter, media: MediaFetcher) -> None:
        self._reporter = reporter
        self._media = media

    async def status(
        self,
        status: SessionStatus,
        reason: str | None = None,
        *,
        phone: str | None = None,
        jid: str | None = None,
    ) -> None:
        await self._reporter.status(status, reason, phone=phone, jid=jid)
        if status == SessionStatus.CONNECTED:
            self._media.on_connected()

    async def qr(self, code: str, expires_at: datetime) -> None:
        await self._reporter.qr(code, expires_at)

    async def pair_code(self, code: str) -> None:
        await self._reporter.pair_code(code)

    async def message_received(self, data: dict[str, Any]) -> None:
        data, row = self._media.described(data)
        await self._reporter.message_received(data, row)
        self._media.after_received(row)

    async def message_ack(self, data: dict[str, Any]) -> None:
        await self._reporter.message_ack(data)

    async def group_event(self, type: EventType, data: dict[str, Any]) -> None:
        await self._reporter.group_event(type, data)

    async def synced(self, count: int) -> None:
        await self._reporter.synced(count)

    async def flush(self) -> bool:
        return await self._reporter.flush()
