"""Session ownership: a Redis lease with a TTL, plus a fencing token.

Two workers must never drive one WhatsApp session (WhatsApp evicts both), so a
worker drives a session only while it holds ``relay:lease:session:{id}``. The
lease alone is not enough: a worker paused past its TTL could wake up and write
stale state. Each acquisition therefore takes a strictly larger token from
``INCR relay:fence:session:{id}``, stores it on the session row, and every write
the owner makes is conditional on that token still being the row's token.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.core.constants import session_fence_key, session_lease_key
from relay.core.models import Session

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_REPLACE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass
class Lease:
    session_id: str
    owner: str
    token: int
    ttl_ms: int
    # When Redis last confirmed the lease (monotonic clock): it lives until this plus the TTL.
    confirmed_at: float = field(default_factory=time.monotonic)

    @property
    def value(self) -> str:
        return f"{self.owner}:{self.token}"

    @property
    def expired(self) -> bool:
        """The TTL has run out since Redis last confirmed the lease: another worker may now take it."""
        return time.monotonic() - self.confirmed_at >= self.ttl_ms / 1000

    async def renew(self, redis: Redis) -> bool:
        """``False`` when Redis says the lease is gone or someone else's; raises ``RedisError`` when
        Redis cannot say (the lease then stands until ``expired``)."""
        asked_at = time.monotonic()
        renewed = await _run_script(
            redis, _RENEW, session_lease_key(self.session_id), self.value, self.ttl_ms
        )
        if renewed:
            self.confirmed_at = asked_at
        return bool(renewed)

    async def release(self, redis: Redis) -> None:
        await _run_script(redis, _RELEASE, session_lease_key(self.session_id), self.value)


async def _run_script(redis: Redis, script: str, key: str, *args: str | int) -> object:
    """EVAL ``script`` on one key; redis-py types EVAL for its sync and async clients at once."""
    reply = redis.eval(script, 1, key, *(str(arg) for arg in args))
    return await cast(Awaitable[object], reply)


async def acquire_lease(redis: Redis, session_id: str, owner: str, ttl_seconds: float) -> Lease | None:
    """Take the session if nobody holds it; ``None`` when another worker does.

    The token is stamped on the session row only if it is newer than the row's,
    so a late acquirer with an older token can never overwrite a newer owner.
    """
    token = int(await redis.incr(session_fence_key(session_id)))
    lease = Lease(session_id=session_id, owner=owner, token=token, ttl_ms=int(ttl_seconds * 1000))
    taken = await redis.set(session_lease_key(session_id), lease.value, nx=True, px=lease.ttl_ms)
    if not taken:
        return None
    try:
        stamped = await Session.filter(id=session_id, fence__lt=token).update(fence=token, owner=owner)
        if not stamped:
            stamped = await _recover_lost_fence(redis, lease)
    except BaseException:
        # The database is away (or we are cancelled): do not leave the session locked for a whole TTL.
        with contextlib.suppress(RedisError):
            await lease.release(redis)
        raise
    if not stamped:
        await lease.release(redis)
        return None
    return lease


async def _recover_lost_fence(redis: Redis, lease: Lease) -> int:
    """Redis lost the fence counter (flush, restart without persistence): move it past the row's.

    Without this a session whose row carries token 7 could never be claimed again
    once INCR starts over at 1.
    """
    rows = await Session.filter(id=lease.session_id).values("fence")
    row_fence = int(rows[0]["fence"]) if rows else None
    if row_fence is None or row_fence < lease.token:
        return 0  # the row is gone, or someone stamped a newer token meanwhile
    old_value = lease.value
    lease.token = int(await redis.incrby(session_fence_key(lease.session_id), row_fence - lease.token + 1))
    replaced = await _run_script(
        redis, _REPLACE, session_lease_key(lease.session_id), old_value, lease.value, lease.ttl_ms
    )
    if not replaced:
        return 0
    return await Session.filter(id=lease.session_id, fence__lt=lease.token).update(
        fence=lease.token, owner=lease.owner
    )


async def current_owners(redis: Redis, session_ids: list[str]) -> dict[str, str | None]:
    if not session_ids:
        return {}
    values = await redis.mget([session_lease_key(sid) for sid in session_ids])
    return {
        sid: (value.decode() if isinstance(value, bytes) else value)
        for sid, value in zip(session_ids, values, strict=True)
    }
