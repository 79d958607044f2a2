"""Reading the event ledger: the history behind webhooks and the WebSocket feed."""

from __future__ import annotations

from relay.core.events import envelope_of
from relay.core.ledger import cursor_position, tenant_events
from relay.core.schemas import Event


async def list_events(
    tenant_id: str,
    *,
    session_id: str | None,
    event_type: str | None,
    after: str | None,
    limit: int,
) -> list[Event]:
    """In commit order, strictly after the event ``after`` names; its id is the cursor.

    Paging by ``seq`` rather than by id means an event that committed after a
    page was read always lands on a later page, even when its id is older.
    Filters on ids the tenant does not own simply match nothing: an empty list
    says no more about another tenant's session than a 404 would.
    """
    position = await cursor_position(tenant_id, after)
    query = tenant_events(tenant_id, session_id=session_id, event_type=event_type)
    page = await query.filter(seq__gt=position).order_by("seq").limit(limit)
    return [Event.model_validate(envelope_of(event)) for event in page]
