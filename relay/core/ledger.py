"""Reading the event ledger in commit order: the one pager behind `/v1/events`, feed replay and
webhook replay.

Events are read by ``seq``, their place in the tenant's commit order, not by
id: ids are minted before the commit, so two writers can commit in the
opposite order of their ids, but a seq is handed out under the tenant
counter's row lock, so a reader that has seen seq n has seen everything
before it. Clients still name their position with an event id (``since``,
``after``); ``cursor_position`` turns it into a seq.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from tortoise.queryset import QuerySet

from relay.core.constants import LEDGER_PAGE
from relay.core.models import Event, TenantSequence


def tenant_events(
    tenant_id: str, *, session_id: str | None = None, event_type: str | None = None
) -> QuerySet[Event]:
    """The tenant's events, optionally of one session and one type."""
    query = Event.filter(tenant_id=tenant_id)
    if session_id:
        query = query.filter(session_id=session_id)
    if event_type:
        query = query.filter(type=event_type)
    return query


async def event_pages(
    query: QuerySet[Event], *, after: int = 0, page_size: int = LEDGER_PAGE
) -> AsyncIterator[list[Event]]:
    """``query``'s events with a seq above ``after``, in commit order, one page in memory at a time."""
    cursor = after
    while True:
        page = await query.filter(seq__gt=cursor).order_by("seq").limit(page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        cursor = page[-1].seq


async def cursor_position(tenant_id: str, event_id: str | None) -> int:
    """The seq a client's cursor stands for: reading resumes with the events after it.

    No cursor is the very beginning. One of the tenant's event ids is that
    event's seq. Any other id (mistyped, another tenant's, older than a
    restored backup) stands for the moment it was minted: reading resumes at
    the first of the tenant's events minted after it, or at the end.
    """
    if not event_id:
        return 0
    found = await Event.filter(tenant_id=tenant_id, id=event_id).only("seq").first()
    if found is not None:
        return int(found.seq)
    later = await Event.filter(tenant_id=tenant_id, id__gt=event_id).order_by("id").only("seq").first()
    if later is not None:
        return int(later.seq) - 1
    return (await committed_positions([tenant_id]))[tenant_id]


async def committed_positions(tenant_ids: Iterable[str]) -> dict[str, int]:
    """Each tenant's last committed seq (0 for a tenant without events).

    Read without a lock: a batch still being written holds its counter row, so
    this sees the value of the last commit, and every seq up to it is in the ledger.
    """
    wanted = list(tenant_ids)
    rows = await TenantSequence.filter(tenant_id__in=wanted).values_list("tenant_id", "last_seq")
    positions = {tenant_id: 0 for tenant_id in wanted}
    positions.update({str(tenant_id): int(last_seq) for tenant_id, last_seq in rows})
    return positions


async def events_between(tenant_id: str, first: int, last: int) -> list[Event]:
    """The tenant's events with ``first <= seq <= last``, in commit order."""
    return await Event.filter(tenant_id=tenant_id, seq__gte=first, seq__lte=last).order_by("seq")
