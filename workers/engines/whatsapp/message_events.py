"""What a session receives: messages, receipts, history and offline sync, groups → reporter calls.

None of these events says anything about the connection, so they live apart from
``session_events`` (which owns the connection's state and registers the callbacks,
then hands these events here). The one state kept here is whether an offline sync
is replaying messages: those are marked as such, and the ones older than
``OFFLINE_MAX_AGE`` are not forwarded.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from neonize.aioze.events import (
    GroupInfoEv,
    HistorySyncEv,
    JoinedGroupEv,
    MessageEv,
    OfflineSyncCompletedEv,
    OfflineSyncPreviewEv,
    ReceiptEv,
)

from workers.engines.base import EngineReporter
from workers.engines.whatsapp import groups, inbound, outbound

log = logging.getLogger("relay.whatsapp")

# Messages replayed by the offline sync older than this are not forwarded.
OFFLINE_MAX_AGE = timedelta(hours=24)

HANDLED_MESSAGE_EVENTS = (
    HistorySyncEv,
    MessageEv,
    ReceiptEv,
    OfflineSyncPreviewEv,
    OfflineSyncCompletedEv,
    JoinedGroupEv,
    GroupInfoEv,
)


class MessageEvents:
    """One session's inbound traffic, reported in the order neonize delivered it."""

    def __init__(self, reporter: EngineReporter, recent: outbound.RecentMessages, *, session_id: str) -> None:
        self._reporter = reporter
        self._recent = recent
        self._session_id = session_id
        self._offline_sync = False

    async def handle(self, event: object) -> bool:
        """Report the event if it is one of ``HANDLED_MESSAGE_EVENTS``; says whether it was."""
        if isinstance(event, MessageEv):
            await self._handle_message(event)
        elif isinstance(event, ReceiptEv):
            data = inbound.message_ack(event)
            if data is not None:
                await self._reporter.message_ack(data)
        elif isinstance(event, HistorySyncEv):
            log.info(
                "session %s: history sync with %d conversations not forwarded",
                self._session_id,
                len(event.Data.conversations),
            )
        elif isinstance(event, OfflineSyncPreviewEv):
            self._offline_sync = True
            log.info("session %s: offline sync of %d messages", self._session_id, event.Message)
        elif isinstance(event, OfflineSyncCompletedEv):
            self._offline_sync = False
            await self._reporter.synced(event.Count)
        elif isinstance(event, JoinedGroupEv):
            await self._reporter.group_event(*groups.joined(event))
        elif isinstance(event, GroupInfoEv):
            for type, data in groups.group_changes(event):
                await self._reporter.group_event(type, data)
        else:
            return False
        return True

    async def _handle_message(self, event: Any) -> None:
        data = inbound.message_received(event, offline=self._offline_sync)
        if data is None:
            return
        if self._offline_sync:
            sent_at = inbound.from_unix(event.Info.Timestamp, milliseconds=True)
            if datetime.now(UTC) - sent_at > OFFLINE_MAX_AGE:
                return
        # WhatsApp acknowledged the message before this callback ran: the journal is its first stop.
        await self._reporter.message_received(data)
        source = event.Info.MessageSource
        self._recent.remember(
            data["whatsapp_id"],
            outbound.KnownMessage(
                data["chat"], inbound.bare_jid(source.Sender), data["from_me"], data["text"]
            ),
        )
