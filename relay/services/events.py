"""Reading the event ledger: the history behind webhooks and the WebSocket feed."""

from __future__ import annotations

from typing import Any

from relay.events import envelope_of
from relay.models import Event


async def list_events(
    tenant_id: str,
    *,
    session_id: str | None,
    event_type: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Oldest first, strictly after ``after``; ids are time-ordered so ``id`` is the cursor.

    Filters on ids the tenant does not own simply match nothing: an empty list
    says no more about another tenant's session than a 404 would.
    """
    query = Event.filter(tenant_id=tenant_id)
    if session_id:
        query = query.filter(session_id=session_id)
    if event_type:
        query = query.filter(type=event_type)
    if after:
        query = query.filter(id__gt=after)
    return [envelope_of(e) for e in await query.order_by("id").limit(limit)]
