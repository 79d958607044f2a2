"""Placement: which worker has room, and telling a session that wants to run why none runs it.

Every supervisor writes how many sessions it owns and how many it may own
(``RELAY_WORKER_CAPACITY``) to a short-lived Redis key on each poll. A supervisor
that is full looks there before it leaves a session alone: if another live worker
has room, that worker claims it; if none has, the session is *unplaced*, and
saying nothing would leave it ``stopped`` with ``reason: null`` forever. So the
full supervisor records ``stopped`` with a reason that names capacity, as a
``session.status`` event fenced with the row's current token (a worker that
claims the session meanwhile stamps a newer one, and the stale write is
refused), and the runner that eventually claims it reports ``starting``, which
clears the reason. Capacity counts sessions, whichever process hosts them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from tortoise.expressions import Q

from relay.core.constants import (
    PLACEMENT_LOCK_KEY,
    UNPLACED_REASON_PREFIX,
    WORKERS_KEY,
    worker_room_key,
)
from relay.core.enums import DesiredState, EventType, SessionStatus
from relay.core.events import LeaseLost, publish_event
from relay.core.models import Session
from workers.lease import current_owners

log = logging.getLogger("relay.worker.placement")

# Rows looked at per pass: the rest wait for the next pass.
PLACEMENT_SCAN = 500
STOPPED_ON_REQUEST = "stopped on request"


@dataclass(frozen=True, slots=True)
class Room:
    """What the live workers own and may own, all together."""

    workers: int
    sessions: int
    capacity: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.sessions, 0)

    def full_reason(self) -> str:
        workers = "" if self.workers <= 1 else f"{self.workers} workers, "
        return f"{UNPLACED_REASON_PREFIX}: every worker is full ({workers}capacity {self.capacity})"


async def announce_room(redis: Redis, worker_id: str, *, sessions: int, capacity: int, ttl: float) -> None:
    """This worker's load, kept for ``ttl`` seconds: a worker that stops announcing has no room."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(worker_room_key(worker_id), f"{sessions} {capacity}", px=int(ttl * 1000))
        pipe.sadd(WORKERS_KEY, worker_id)
        await pipe.execute()


async def withdraw_room(redis: Redis, worker_id: str) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(worker_room_key(worker_id))
        pipe.srem(WORKERS_KEY, worker_id)
        await pipe.execute()


async def live_room(redis: Redis) -> Room:
    """The room of every worker that announced itself recently (the silent ones are forgotten)."""
    members = sorted(_text(m) for m in await redis.smembers(WORKERS_KEY))  # type: ignore[misc]  # redis-py types sync and async at once
    if not members:
        return Room(0, 0, 0)
    values = await redis.mget([worker_room_key(worker_id) for worker_id in members])
    gone = [worker_id for worker_id, value in zip(members, values, strict=True) if value is None]
    if gone:
        await redis.srem(WORKERS_KEY, *gone)  # type: ignore[misc]  # as above
    loads = [_text(value).split() for value in values if value is not None]
    return Room(
        workers=len(loads),
        sessions=sum(int(load[0]) for load in loads),
        capacity=sum(int(load[1]) for load in loads),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _unowned(redis: Redis, rows: list[Session], skip: set[str]) -> list[Session]:
    owners = await current_owners(redis, [row.id for row in rows if row.id not in skip])
    return [row for row in rows if row.id in owners and owners[row.id] is None]


async def _record(redis: Redis, row: Session, reason: str | None) -> bool:
    """``stopped`` with ``reason``, fenced with the row's token; ``False`` if a worker took it meanwhile."""
    data: dict[str, str | None] = {"status": SessionStatus.STOPPED, "reason": reason}
    try:
        await publish_event(
            redis,
            tenant_id=row.tenant_id,
            session_id=row.id,
            type=EventType.SESSION_STATUS,
            data={**data, "previous": row.status},
            fence=row.fence,
            session_updates={
                "status": SessionStatus.STOPPED,
                "reason": reason,
                "qr": None,
                "qr_expires_at": None,
            },
        )
    except LeaseLost:
        return False
    return True


async def mark_unplaced(redis: Redis, room: Room, *, skip: set[str], lock_ttl: float) -> int:
    """Give every unowned session that wants to run the capacity reason; how many were marked.

    One full supervisor at a time does it (a short Redis lock), so two do not record the same
    change twice.
    """
    reason = room.full_reason()
    if not await redis.set(PLACEMENT_LOCK_KEY, "1", nx=True, px=int(lock_ttl * 1000)):
        return 0
    try:
        # Not told yet (NULL-safe: a NULL reason is "not told"), oldest first.
        not_told = Q(reason__isnull=True) | Q(reason__not=reason) | Q(status__not=SessionStatus.STOPPED)
        query = Session.filter(not_told, desired_state=DesiredState.RUNNING)
        if skip:
            query = query.exclude(id__in=sorted(skip))
        rows = await query.order_by("updated_at").limit(PLACEMENT_SCAN)
        marked = 0
        for row in await _unowned(redis, rows, skip):
            marked += await _record(redis, row, reason)
        return marked
    finally:
        await redis.delete(PLACEMENT_LOCK_KEY)


async def clear_stopped_marks(redis: Redis) -> int:
    """A session stopped while it waited for capacity no longer waits: say it was stopped on request."""
    rows = await Session.filter(
        desired_state=DesiredState.STOPPED, reason__startswith=UNPLACED_REASON_PREFIX
    ).limit(PLACEMENT_SCAN)
    cleared = 0
    for row in await _unowned(redis, rows, set()):
        cleared += await _record(redis, row, STOPPED_ON_REQUEST)
    return cleared
