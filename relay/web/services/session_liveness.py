"""Whether a live worker holds each session, so that a session whose worker is gone never reads as connected.

The status on a session row is what its owner last wrote; an owner that dies
or hangs writes nothing more. Only a worker holding the session's lease drives
it, and a worker that stops renewing the lease loses it within
``RELAY_LEASE_TTL`` seconds. A read therefore checks the leases (one ``MGET``
for a whole page) and shows a session whose stored status is live but whose
lease is absent as ``reconnecting``, with a reason saying no worker holds it,
until a worker takes it over (SPEC "Session states").
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from relay.core import models
from relay.core.constants import session_lease_key
from relay.core.enums import SETTLED_STATUSES
from relay.web.schemas.sessions import Session


async def sessions_as_seen(redis: Redis, rows: Sequence[models.Session]) -> list[Session]:
    """The sessions as the API shows them: stored status, unless no worker holds a live session."""
    live = [row.id for row in rows if row.status not in SETTLED_STATUSES]
    held = await _leased(redis, live)
    orphaned = set(live) - held
    return [Session.of(row, orphaned=row.id in orphaned) for row in rows]


async def _leased(redis: Redis, session_ids: list[str]) -> set[str]:
    if not session_ids:
        return set()
    leases = await redis.mget([session_lease_key(session_id) for session_id in session_ids])
    return {session_id for session_id, lease in zip(session_ids, leases, strict=True) if lease is not None}
