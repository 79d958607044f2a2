"""The feed's database reads: which sessions a socket may follow, ledger replay, and gap filling."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from relay.core import ledger
from relay.core.problems import Problem
from relay.web.services.session_lookup import visible_session
from relay.web.ws.entries import FeedEntry, entry_from_ledger
from relay.web.ws.protocol import ALL_SESSIONS


async def can_follow(tenant_id: str, session_id: str) -> bool:
    """``*`` or one of the tenant's live sessions; foreign, unknown and deleted ids look alike."""
    if session_id == ALL_SESSIONS:
        return True
    try:
        await visible_session(tenant_id, session_id)
    except Problem:
        return False
    return True


async def cursor_position(tenant_id: str, since: str) -> int:
    """The seq a client's ``since`` (an event id) stands for."""
    return await ledger.cursor_position(tenant_id, since)


async def events_after(tenant_id: str, topic: str, position: int) -> AsyncIterator[FeedEntry]:
    """The tenant's ledger after seq ``position``, in commit order, one page in memory at a time."""
    query = ledger.tenant_events(tenant_id, session_id=None if topic == ALL_SESSIONS else topic)
    async for page in ledger.event_pages(query, after=position):
        for event in page:
            yield entry_from_ledger(event)


class LedgerFeed:
    """The fan-out's view of the ledger (``relay.web.ws.fanout.FeedLedger``)."""

    async def committed_positions(self, tenant_ids: Iterable[str]) -> dict[str, int]:
        return await ledger.committed_positions(tenant_ids)

    async def entries_between(self, tenant_id: str, first: int, last: int) -> list[FeedEntry]:
        return [entry_from_ledger(event) for event in await ledger.events_between(tenant_id, first, last)]
