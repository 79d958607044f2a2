"""Reading the event ledger a page at a time: the one pager behind `/v1/events`, feed replay and webhook
replay."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tortoise.queryset import QuerySet

from relay.core.constants import LEDGER_PAGE
from relay.core.models import Event


def tenant_events(
    tenant_id: str, *, session_id: str | None = None, event_type: str | None = None
) -> QuerySet[Event]:
    """The tenant's events, optionally of one session and one type; ids are time-ordered cursors."""
    query = Event.filter(tenant_id=tenant_id)
    if session_id:
        query = query.filter(session_id=session_id)
    if event_type:
        query = query.filter(type=event_type)
    return query


async def event_pages(
    query: QuerySet[Event], *, after: str = "", page_size: int = LEDGER_PAGE
) -> AsyncIterator[list[Event]]:
    """``query``'s events strictly after ``after``, oldest first, one page in memory at a time."""
    cursor = after
    while True:
        page = await query.filter(id__gt=cursor).order_by("id").limit(page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        cursor = page[-1].id
