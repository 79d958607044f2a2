"""How every route finds a tenant's session: foreign, unknown and deleted ids look the same."""

from __future__ import annotations

import re

from relay.core.enums import DesiredState
from relay.core.models import Session
from relay.core.problems import not_found
from relay.core.schemas import RelayId

WELL_FORMED = re.compile(RelayId("ses", "a session").pattern)


async def visible_session(tenant_id: str, session_id: str) -> Session:
    """The session, or 404: a tenant never learns whether another tenant's id exists.

    A malformed id (a WebSocket ``send`` frame's, say) is the same 404, before any query.
    """
    if not WELL_FORMED.match(session_id):
        raise not_found("session")
    session = (
        await Session.filter(id=session_id, tenant_id=tenant_id)
        .exclude(desired_state=DesiredState.DELETED)
        .first()
    )
    if session is None:
        raise not_found("session")
    return session
