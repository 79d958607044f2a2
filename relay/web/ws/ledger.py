"""The feed's database reads: which sessions a socket may follow, and ledger replay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from relay.core.events import envelope_of
from relay.core.ledger import event_pages, tenant_events
from relay.core.problems import Problem
from relay.web.services.session_lookup import visible_session
from relay.web.ws.fanout import FeedEntry
from relay.web.ws.protocol import ALL_SESSIONS, event_frame


async def can_follow(tenant_id: str, session_id: str) -> bool:
    """``*`` or one of the tenant's live sessions; foreign, unknown and deleted ids look alike."""
    if session_id == ALL_SESSIONS:
        return True
    try:
        await visible_session(tenant_id, session_id)
    except Problem:
        return False
    return True


async def events_after(tenant_id: str, topic: str, since: str) -> AsyncIterator[FeedEntry]:
    """The tenant's ledger after ``since``, oldest first, one page in memory at a time."""
    query = tenant_events(tenant_id, session_id=None if topic == ALL_SESSIONS else topic)
    async for page in event_pages(query, after=since):
        for event in page:
            yield FeedEntry(
                id=event.id,
                session_id=event.session_id,
                frame=event_frame(orjson.dumps(envelope_of(event))),
            )
