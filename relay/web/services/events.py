"""Reading the event ledger: the history behind webhooks and the WebSocket feed."""

from __future__ import annotations

from relay.core.events import envelope_of
from relay.core.ledger import tenant_events
from relay.core.schemas import Event


async def list_events(
    tenant_id: str,
    *,
    session_id: str | None,
    event_type: str | None,
    after: str | None,
    limit: int,
) -> list[Event]:
    """Oldest first, strictly after ``after``; ids are time-ordered so ``id`` is the cursor.

    Filters on ids the tenant does not own simply match nothing: an empty list
    says no more about another tenant's session than a 404 would.
    """
    query = tenant_events(tenant_id, session_id=session_id, event_type=event_type)
    page = await query.filter(id__gt=after or "").order_by("id").limit(limit)
    return [Event.model_validate(envelope_of(event)) for event in page]
