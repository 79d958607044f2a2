"""Groups: each call is a ``groups`` command to the session's owning worker (SPEC "Groups").

Like contacts check, read and presence, a group call needs a live connection, so a
session that is not ``connected`` is refused at once with a 409 naming its status.
The engine's answer is validated with the response models before it is shown, so
an engine cannot answer a shape the API does not document.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from relay.core.commands import CommandResult, submit_command
from relay.core.enums import CommandKind, GroupAction, ParticipantChange, SessionStatus
from relay.core.problems import Problem, not_found
from relay.web.schemas.fields import user_jid
from relay.web.schemas.groups import (
    Group,
    GroupCreate,
    GroupList,
    GroupUpdate,
    InviteLink,
    ParticipantResults,
    ParticipantsRequest,
)
from relay.web.services.session_lookup import visible_session

# A WhatsApp round trip, or a few for a participants call; past this the caller is told to retry.
GROUP_COMMAND_WAIT = 20.0


async def _run(
    redis: Redis, tenant_id: str, session_id: str, action: GroupAction, params: dict[str, Any]
) -> dict[str, Any]:
    session = await visible_session(tenant_id, session_id)
    what = f"the group call {action}"
    if session.status != SessionStatus.CONNECTED:
        raise Problem(409, f"session is {session.status}; {what} needs it connected")
    command = {"action": action, "params": params}
    result = await submit_command(redis, session.id, CommandKind.GROUPS, command, wait=GROUP_COMMAND_WAIT)
    return _answer(what, result)


def _answer(what: str, result: CommandResult | None) -> dict[str, Any]:
    if result is None:
        raise Problem(504, f"the session's worker did not answer {what} in time; retry")
    if result.ok:
        return result.data
    if result.data.get("not_found"):
        raise not_found("group")
    if result.data.get("not_connected"):
        raise Problem(409, f"session is not connected: {result.error}")
    raise Problem(502, f"WhatsApp refused {what}: {result.error}")


async def list_groups(
    redis: Redis, tenant_id: str, session_id: str, limit: int, cursor: str | None
) -> GroupList:
    """WhatsApp answers every group at once; pages are cut here, in JID order, like every list."""
    data = await _run(redis, tenant_id, session_id, GroupAction.LIST, {})
    groups = sorted((Group.model_validate(item) for item in data["groups"]), key=lambda group: group.jid)
    page = [group for group in groups if cursor is None or group.jid > cursor][:limit]
    return GroupList(data=page, next_cursor=page[-1].jid if len(page) == limit else None)


async def group_info(redis: Redis, tenant_id: str, session_id: str, jid: str) -> Group:
    data = await _run(redis, tenant_id, session_id, GroupAction.INFO, {"jid": jid})
    return Group.model_validate(data["group"])


async def create_group(redis: Redis, tenant_id: str, session_id: str, body: GroupCreate) -> Group:
    params = {"subject": body.subject, "participants": [user_jid(p) for p in body.participants]}
    data = await _run(redis, tenant_id, session_id, GroupAction.CREATE, params)
    return Group.model_validate(data["group"])


async def update_group(redis: Redis, tenant_id: str, session_id: str, jid: str, body: GroupUpdate) -> Group:
    params = {"jid": jid, "subject": body.subject, "description": body.description}
    data = await _run(redis, tenant_id, session_id, GroupAction.UPDATE, params)
    return Group.model_validate(data["group"])


async def change_participants(
    redis: Redis, tenant_id: str, session_id: str, jid: str, body: ParticipantsRequest
) -> ParticipantResults:
    changes = {change.value: [user_jid(p) for p in getattr(body, change)] for change in ParticipantChange}
    data = await _run(
        redis, tenant_id, session_id, GroupAction.PARTICIPANTS, {"jid": jid, "changes": changes}
    )
    return ParticipantResults(data=data["results"])


async def leave_group(redis: Redis, tenant_id: str, session_id: str, jid: str) -> None:
    await _run(redis, tenant_id, session_id, GroupAction.LEAVE, {"jid": jid})


async def invite_link(redis: Redis, tenant_id: str, session_id: str, jid: str) -> InviteLink:
    data = await _run(redis, tenant_id, session_id, GroupAction.INVITE_LINK, {"jid": jid})
    return InviteLink(link=data["link"])
