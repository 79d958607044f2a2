"""Turns what an engine reports into fenced session updates and ledger events.

Every event carries the lease's fencing token and goes through the session's
``SessionHandoff``: the reporter returns as soon as the event is in the journal,
so an engine never waits for the database, and the hand-off publishes events in
the order they were reported. Engines report from one task or several; each
call queues its event before its first ``await``, so the order of the calls is
the order of the events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from relay.core.enums import GROUP_EVENT_TYPES, EventType, SessionStatus
from relay.core.metrics import count_status_change
from relay.core.times import isoformat
from workers.handoff import SessionHandoff
from workers.lease import Lease
from workers.pending_event import MediaRow, MessageRowUpdate, PendingEvent


class SessionReporter:
    """The runner's side of ``EngineReporter``."""

    def __init__(
        self,
        *,
        handoff: SessionHandoff,
        tenant_id: str,
        session_id: str,
        lease: Lease,
        status: str,
        on_status: Callable[[SessionStatus], None] | None = None,
    ) -> None:
        self._handoff = handoff
        self._tenant_id = tenant_id
        self._session_id = session_id
        self._lease = lease
        self._on_status = on_status
        self.current_status = SessionStatus(status)
        # Set by the runner when it learns the lease is gone: stop acting for the session.
        self.lease_lost = False

    def _event(
        self,
        type: EventType,
        data: dict[str, Any],
        updates: dict[str, Any] | None = None,
        message_update: MessageRowUpdate | None = None,
        media_row: MediaRow | None = None,
    ) -> PendingEvent:
        return PendingEvent(
            tenant_id=self._tenant_id,
            session_id=self._session_id,
            type=type,
            data=data,
            fence=self._lease.token,
            session_updates=updates,
            message_update=message_update,
            media_row=media_row,
        )

    async def flush(self) -> bool:
        """Wait until everything reported so far is in the ledger; ``False`` if the lease was lost."""
        return await self._handoff.flush()

    async def status(
        self,
        status: SessionStatus,
        reason: str | None = None,
        *,
        phone: str | None = None,
        jid: str | None = None,
    ) -> None:
        updates: dict[str, Any] = {"status": status, "reason": reason}
        if phone is not None:
            updates["phone"] = phone
        if jid is not None:
            updates["jid"] = jid
        if status == SessionStatus.LOGGED_OUT:
            updates.update(phone=None, jid=None)
        if status not in {SessionStatus.QR, SessionStatus.PAIRING}:
            updates.update(qr=None, qr_expires_at=None)
        if status in {SessionStatus.RECONNECTING, SessionStatus.FAILED} and reason:
            # Kept after the session recovers: "why did it drop last time?"
            updates["last_error"] = reason
        previous = self.current_status
        self.current_status = status
        data = {"status": status, "previous": previous, "reason": reason}
        await self._handoff.submit(self._event(EventType.SESSION_STATUS, data, updates))
        count_status_change(previous, status, reason)
        if self._on_status is not None:
            self._on_status(status)

    async def qr(self, code: str, expires_at: datetime) -> None:
        updates: dict[str, Any] = {"qr": code, "qr_expires_at": expires_at}
        data = {"qr": code, "expires_at": isoformat(expires_at)}
        await self._handoff.submit(self._event(EventType.SESSION_QR, data, updates))

    async def pair_code(self, code: str) -> None:
        await self._handoff.submit(self._event(EventType.SESSION_PAIR_CODE, {"code": code}))

    async def message_received(self, data: dict[str, Any], media_row: MediaRow | None = None) -> None:
        """WhatsApp has already acknowledged the message: the journal append is its first stop.

        ``media_row`` (``workers.media_fetch``) goes into the journal with the event and is
        written in the event's transaction, so the message's ``media.url`` answers from the
        moment the event is in the ledger, and nothing here waits for the database.
        """
        await self._handoff.submit(self._event(EventType.MESSAGE_RECEIVED, data, media_row=media_row))

    async def message_ack(self, data: dict[str, Any]) -> None:
        await self._handoff.submit(self._event(EventType.MESSAGE_ACK, data))

    async def group_event(self, type: EventType, data: dict[str, Any]) -> None:
        if type not in GROUP_EVENT_TYPES:
            raise ValueError(f"{type!r} is not a group event")
        await self._handoff.submit(self._event(type, data))

    async def synced(self, count: int) -> None:
        await self._handoff.submit(self._event(EventType.SESSION_SYNCED, {"count": count}))

    async def message_media(self, data: dict[str, Any]) -> None:
        """A received message's media is stored, or will never be (``workers.media_fetch``)."""
        await self._handoff.submit(self._event(EventType.MESSAGE_MEDIA, data))

    async def message_outcome(self, type: EventType, data: dict[str, Any], update: MessageRowUpdate) -> bool:
        """``message.sent`` / ``message.failed`` with the message row's new status, once committed."""
        return await self._handoff.submit_and_wait(self._event(type, data, message_update=update))
