"""``GET /v1/events``: which part of the ledger to read (the envelope is ``relay.core.schemas.Event``)."""

from __future__ import annotations

from pydantic import Field

from relay.core.schemas import OptionalQueryText, PageQuery


class EventQuery(PageQuery):
    session_id: OptionalQueryText = Field(default=None, description="Only this session's events")
    type: OptionalQueryText = Field(default=None, description="Only events of this type")
    # `after` is the documented name; `cursor` is what every list's next_cursor feeds.
    after: OptionalQueryText = Field(default=None, description="Only events after this event id")
