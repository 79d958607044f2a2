"""Turns what an engine reports into fenced session updates and ledger events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.enums import EventType, SessionStatus
from relay.core.events import LeaseLost, publish_event
from relay.core.times import isoformat
from workers.lease import Lease

log = logging.getLogger("relay.worker.reporter")


class SessionReporter:
    """The runner's side of ``EngineReporter``.

    Every write carries the lease's fencing token; the lock keeps one session's
    events in the order the engine reported them even when several tasks of
    the engine report at once.
    """

    def __init__(
        self,
        *,
        redis: Redis,
        tenant_id: str,
        session_id: str,
        lease: Lease,
        status: str,
        on_lease_lost: Callable[[], None],
        on_status: Callable[[SessionStatus], None] | None = None,
    ) -> None:
        self._redis = redis
        self._tenant_id = tenant_id
        self._session_id = session_id
        self._lease = lease
        self._lock = asyncio.Lock()
        self._on_lease_lost = on_lease_lost
        self._on_status = on_status
        self.current_status = SessionStatus(status)
        self.lease_lost = False

    async def _publish(
        self,
        type: EventType,
        data: dict[str, Any],
        updates: dict[str, Any] | None = None,
        also_write: Callable[[BaseDBAsyncClient], Awaitable[object]] | None = None,
    ) -> bool:
        if self.lease_lost:
            return False
        try:
            await publish_event(
                self._redis,
                tenant_id=self._tenant_id,
                session_id=self._session_id,
                type=type,
                data=data,
                fence=self._lease.token,
                session_updates=updates,
                also_write=also_write,
            )
        except LeaseLost:
            self.lease_lost = True
            log.warning("session %s: lease lost, write refused", self._session_id)
            self._on_lease_lost()
            return False
        return True

    async def status(
        self,
        status: SessionStatus,
        reason: str | None = None,
        *,
        phone: str | None = None,
        jid: str | None = None,
    ) -> None:
        async with self._lock:
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
            await self._publish(
                EventType.SESSION_STATUS,
                {"status": status, "previous": previous, "reason": reason},
                updates,
            )
        if self._on_status is not None:
            self._on_status(status)

    async def qr(self, code: str, expires_at: datetime) -> None:
        async with self._lock:
            updates: dict[str, Any] = {"qr": code, "qr_expires_at": expires_at}
            await self._publish(
                EventType.SESSION_QR, {"qr": code, "expires_at": isoformat(expires_at)}, updates
            )

    async def pair_code(self, code: str) -> None:
        async with self._lock:
            await self._publish(EventType.SESSION_PAIR_CODE, {"code": code})

    async def message_received(self, data: dict[str, Any]) -> None:
        async with self._lock:
            await self._publish(EventType.MESSAGE_RECEIVED, data)

    async def message_ack(self, data: dict[str, Any]) -> None:
        async with self._lock:
            await self._publish(EventType.MESSAGE_ACK, data)

    async def message_outcome(
        self,
        type: EventType,
        data: dict[str, Any],
        also_write: Callable[[BaseDBAsyncClient], Awaitable[object]],
    ) -> bool:
        """``message.sent`` / ``message.failed`` together with the message row's new status."""
        async with self._lock:
            return await self._publish(type, data, also_write=also_write)
