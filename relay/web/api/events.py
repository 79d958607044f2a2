"""``GET /v1/events``: the tenant's event history, the same envelopes webhooks carry."""

from __future__ import annotations

from relay.core.schemas import Event, Page
from relay.web.api.operations import Access, Call, Routes
from relay.web.schemas.events import EventQuery
from relay.web.services.events import list_events

routes = Routes(tag="events", access=Access.TENANT)


@routes.add("GET", "/v1/events", "Event history, oldest first", takes=EventQuery, returns=Page[Event])
async def event_history(call: Call[EventQuery]) -> Page[Event]:
    query = call.input
    events = await list_events(
        call.tenant_id,
        session_id=query.session_id,
        event_type=query.type,
        after=query.after or query.cursor,
        limit=query.limit,
    )
    return Page.of(events, query.limit)
