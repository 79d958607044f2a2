"""The feed's database reads: which sessions a socket may follow, and ledger replay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from relay.events import envelope_of
from relay.models import Event
from relay.problems import Problem
from relay.services.session_lookup import visible_session
from relay.ws.fanout import FeedEntry
from relay.ws.protocol import ALL_SESSIONS, event_frame

REPLAY_PAGE = 500


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
    cursor = since
    while True:
        query = Event.filter(tenant_id=tenant_id, id__gt=cursor)
        if topic != ALL_SESSIONS:
            query = query.filter(session_id=topic)
        page = await query.order_by("id").limit(REPLAY_PAGE)
        for event in page:
            yield FeedEntry(
                id=event.id,
                session_id=event.session_id,
                frame=event_frame(orjson.dumps(envelope_of(event))),
            )
        if len(page) < REPLAY_PAGE:
            return
        cursor = page[-1].id
