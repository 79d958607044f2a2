"""Acting out the phone's side of a sandbox session: scan, inbound messages, drops, unlink.

These exist so integrators (and Relay's own tests) can exercise the whole
event flow without a real WhatsApp account.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from relay.core.commands import submit_command
from relay.core.problems import Problem
from relay.web.services.session_lookup import visible_session

# Short: sandbox actions are local to the worker, and a timeout is not an error here.
SANDBOX_WAIT = 5.0

# The statuses each action makes sense in, as a real phone would see it.
ALLOWED_STATUSES = {
    "scan": ("qr", "pairing"),
    "inbound": ("connected",),
    "drop": ("connected",),
    "logout": ("connected",),
}


async def sandbox_action(
    redis: Redis, tenant_id: str, session_id: str, action: str, params: dict[str, Any]
) -> dict[str, Any]:
    session = await visible_session(tenant_id, session_id)
    if session.engine != "sandbox":
        raise Problem(409, "sandbox actions only apply to sessions with engine 'sandbox'")
    allowed = ALLOWED_STATUSES[action]
    if session.status not in allowed:
        raise Problem(409, f"session is {session.status}; {action} needs {' or '.join(allowed)}")
    result = await submit_command(redis, session.id, f"sandbox.{action}", params, wait=SANDBOX_WAIT)
    if result is None:
        return {"accepted": True}
    if not result.ok:
        raise Problem(409, result.error or f"sandbox {action} refused")
    return {"accepted": True, **result.data}
