"""Acting out the phone's side of a sandbox session: scan, inbound messages, drops, unlink.

These exist so integrators (and Relay's own tests) can exercise the whole
event flow without a real WhatsApp account.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from relay.core.commands import submit_command
from relay.core.enums import CommandKind, EngineKind, SessionStatus
from relay.core.problems import Problem
from relay.web.schemas.sandbox import SandboxAccepted
from relay.web.services.session_lookup import visible_session

# Short: sandbox actions are local to the worker, and a timeout is not an error here.
SANDBOX_WAIT = 5.0

# The statuses each action makes sense in, as a real phone would see it.
ALLOWED_STATUSES = {
    CommandKind.SANDBOX_SCAN: (SessionStatus.QR, SessionStatus.PAIRING),
    # While dropped, a contact's messages wait for the reconnect and arrive with ``offline: true``.
    CommandKind.SANDBOX_INBOUND: (SessionStatus.CONNECTED, SessionStatus.RECONNECTING),
    CommandKind.SANDBOX_DROP: (SessionStatus.CONNECTED,),
    CommandKind.SANDBOX_LOGOUT: (SessionStatus.CONNECTED,),
    # What the contacts saw is kept while the engine runs; a reconnect keeps it too.
    CommandKind.SANDBOX_SEEN: (SessionStatus.CONNECTED, SessionStatus.RECONNECTING),
    CommandKind.SANDBOX_JOIN_GROUP: (SessionStatus.CONNECTED,),
}


async def sandbox_action(
    redis: Redis, tenant_id: str, session_id: str, action: CommandKind, params: dict[str, Any]
) -> SandboxAccepted:
    session = await visible_session(tenant_id, session_id)
    if session.engine != EngineKind.SANDBOX:
        raise Problem(409, "sandbox actions only apply to sessions with engine 'sandbox'")
    allowed = ALLOWED_STATUSES[action]
    name = action.removeprefix("sandbox.")
    if session.status not in allowed:
        raise Problem(409, f"session is {session.status}; {name} needs {' or '.join(allowed)}")
    result = await submit_command(redis, session.id, action, params, wait=SANDBOX_WAIT)
    if result is None:
        return SandboxAccepted(accepted=True)
    if not result.ok:
        raise Problem(409, result.error or f"sandbox {name} refused")
    return SandboxAccepted(accepted=True, **result.data)
