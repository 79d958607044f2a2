"""How every route finds a tenant's session: foreign, unknown and deleted ids look the same."""

from __future__ import annotations

from relay.core.enums import DesiredState
from relay.core.models import Session
from relay.core.problems import not_found


async def visible_session(tenant_id: str, session_id: str) -> Session:
    """The session, or 404: a tenant never learns whether another tenant's id exists."""
    session = (
        await Session.filter(id=session_id, tenant_id=tenant_id)
        .exclude(desired_state=DesiredState.DELETED)
        .first()
    )
    if session is None:
        raise not_found("session")
    return session
