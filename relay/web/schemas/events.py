"""``GET /v1/events``: which part of the ledger to read (the envelope is ``relay.core.schemas.Event``)."""

from __future__ import annotations

from pydantic import Field

from relay.core.enums import EventType
from relay.core.schemas import EventId, OptionalQuery, PageQuery, SessionId


class EventQuery(PageQuery):
    session_id: OptionalQuery[SessionId] = Field(default=None, description="Only this session's events")
    type: OptionalQuery[EventType] = Field(default=None, description="Only events of this type")
    # `after` is the documented name; `cursor` is what every list's next_cursor feeds.
    after: OptionalQuery[EventId] = Field(default=None, description="Only events after this event id")
    cursor: OptionalQuery[EventId] = None
