"""An event an engine reported that the ledger does not have yet, in a form the journal can keep.

``relay.core.events.NewEvent`` can carry a closure (``also_write``) for rows that
change with the event; a closure cannot be written to disk, so the worker describes
those rows as data instead (``MessageRowUpdate``, ``MediaRow``) and builds the
``NewEvent`` only when it publishes. One ``PendingEvent`` is one line of the journal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.enums import EventType, MediaStatus, MessageStatus
from relay.core.events import NewEvent
from relay.core.ids import new_id
from relay.core.models import Media, OutboundMessage, Session


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRowUpdate:
    """An outbound message's new status, written in the transaction of the event that explains it."""

    message_id: str
    status: MessageStatus
    whatsapp_id: str | None = None
    error: str | None = None

    async def write(self, connection: BaseDBAsyncClient) -> None:
        await (
            OutboundMessage.filter(id=self.message_id)
            .using_db(connection)
            .update(status=self.status, whatsapp_id=self.whatsapp_id, error=self.error)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRow:
    """The row of the media a received message brings, written in that message's transaction.

    Its id is minted in the worker (no database needed) and is the one the event shows,
    so the journal holds everything the row needs, the engine's reference included.
    """

    id: str
    tenant_id: str
    session_id: str
    whatsapp_id: str
    type: str
    mimetype: str | None
    size: int | None
    filename: str | None
    status: MediaStatus
    error: str | None
    reference: dict[str, Any]

    def to_model(self) -> Media:
        # Not ``asdict``: its deep copy of the reference doubles the cost of a burst's rows.
        return Media(**{name: getattr(self, name) for name in self.__slots__})

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> MediaRow:
        return cls(**{**record, "status": MediaStatus(record["status"])})


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingEvent:
    """One event for the ledger, always fenced with the lease token it was reported under.

    Its id is minted when it is reported and kept in the journal, so publishing it again (a
    retry after an unacknowledged commit, a dead worker's journal replayed) cannot write it twice.
    """

    tenant_id: str
    session_id: str
    type: EventType
    data: dict[str, Any]
    fence: int
    session_updates: dict[str, Any] | None = None
    message_update: MessageRowUpdate | None = None
    media_row: MediaRow | None = None
    id: str = field(default_factory=lambda: new_id("evt"))

    def to_new_event(self) -> NewEvent:
        return NewEvent(
            tenant_id=self.tenant_id,
            session_id=self.session_id,
            type=self.type,
            data=self.data,
            fence=self.fence,
            session_updates=self.session_updates,
            also_write=self.message_update.write if self.message_update is not None else None,
            id=self.id,
            side_rows=(self.media_row.to_model(),) if self.media_row is not None else (),
        )

    def encode(self) -> bytes:
        """One journal line; orjson escapes newlines inside strings, so a record is exactly one line."""
        record: dict[str, Any] = {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "session_id": self.session_id,
            "type": self.type,
            "data": self.data,
            "fence": self.fence,
        }
        if self.session_updates:
            record["session_updates"] = self.session_updates
        if self.message_update is not None:
            update = self.message_update
            record["message_update"] = {
                "message_id": update.message_id,
                "status": update.status,
                "whatsapp_id": update.whatsapp_id,
                "error": update.error,
            }
        if self.media_row is not None:
            record["media_row"] = asdict(self.media_row)
        return orjson.dumps(record) + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> PendingEvent:
        """The inverse of ``encode``; raises ``ValueError`` for a line that is not a whole record."""
        try:
            record = orjson.loads(line)
            update = record.get("message_update")
            media_row = record.get("media_row")
            return cls(
                # Journals written before events carried their id get one now.
                id=record.get("id") or new_id("evt"),
                tenant_id=record["tenant_id"],
                session_id=record["session_id"],
                type=EventType(record["type"]),
                data=record["data"],
                fence=int(record["fence"]),
                session_updates=_session_updates_from_json(record.get("session_updates")),
                message_update=None
                if update is None
                else MessageRowUpdate(
                    message_id=update["message_id"],
                    status=MessageStatus(update["status"]),
                    whatsapp_id=update["whatsapp_id"],
                    error=update["error"],
                ),
                media_row=None if media_row is None else MediaRow.from_json(media_row),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"not a journal record: {exc}") from exc


def _session_updates_from_json(updates: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON has no datetimes: the session columns that hold one get theirs back."""
    if not updates:
        return None
    columns = Session._meta.fields_map
    return {
        name: datetime.fromisoformat(value)
        if isinstance(columns.get(name), fields.DatetimeField) and isinstance(value, str)
        else value
        for name, value in updates.items()
    }
