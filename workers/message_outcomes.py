"""What became of an outbound message: its row's new status and its event, written together.

The row is updated inside the transaction that records ``message.sent`` or
``message.failed``, so the API never shows a status the ledger does not explain.
"""

from __future__ import annotations

from typing import Any

from relay.core.enums import EventType, MessageStatus
from relay.core.models import OutboundMessage
from relay.core.times import isoformat
from workers.engines.base import SendReceipt
from workers.pending_event import MessageRowUpdate
from workers.reporter import SessionReporter


async def record_sent(reporter: SessionReporter, message: OutboundMessage, receipt: SendReceipt) -> None:
    data: dict[str, Any] = {
        "id": message.id,
        "whatsapp_id": receipt.whatsapp_id,
        "to": message.to,
        "timestamp": isoformat(receipt.timestamp),
    }
    update = MessageRowUpdate(
        message_id=message.id, status=MessageStatus.SENT, whatsapp_id=receipt.whatsapp_id
    )
    await reporter.message_outcome(EventType.MESSAGE_SENT, data, update)


async def record_failed(reporter: SessionReporter, message: OutboundMessage, error: str) -> None:
    data: dict[str, Any] = {"id": message.id, "to": message.to, "error": error}
    update = MessageRowUpdate(message_id=message.id, status=MessageStatus.FAILED, error=error)
    await reporter.message_outcome(EventType.MESSAGE_FAILED, data, update)
