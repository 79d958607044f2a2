"""What became of an outbound message: its row's new status and its event, written together.

The row is updated inside the transaction that records ``message.sent`` or
``message.failed``, so the API never shows a status the ledger does not explain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.enums import EventType, MessageStatus
from relay.core.models import OutboundMessage
from relay.core.times import isoformat
from workers.engines.base import SendReceipt
from workers.reporter import SessionReporter


async def record_sent(reporter: SessionReporter, message: OutboundMessage, receipt: SendReceipt) -> None:
    data: dict[str, Any] = {
        "id": message.id,
        "whatsapp_id": receipt.whatsapp_id,
        "to": message.to,
        "timestamp": isoformat(receipt.timestamp),
    }
    update = _set_status(message.id, MessageStatus.SENT, whatsapp_id=receipt.whatsapp_id)
    await reporter.message_outcome(EventType.MESSAGE_SENT, data, update)


async def record_failed(reporter: SessionReporter, message: OutboundMessage, error: str) -> None:
    data: dict[str, Any] = {"id": message.id, "to": message.to, "error": error}
    update = _set_status(message.id, MessageStatus.FAILED, error=error)
    await reporter.message_outcome(EventType.MESSAGE_FAILED, data, update)


def _set_status(
    message_id: str, status: MessageStatus, *, whatsapp_id: str | None = None, error: str | None = None
) -> Callable[[BaseDBAsyncClient], Awaitable[None]]:
    async def update_row(connection: BaseDBAsyncClient) -> None:
        await (
            OutboundMessage.filter(id=message_id)
            .using_db(connection)
            .update(status=status, whatsapp_id=whatsapp_id, error=error)
        )

    return update_row
