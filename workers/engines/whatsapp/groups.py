"""Groups on the real engine: Relay's group calls mapped onto neonize, and whatsmeow's group events.

Kept apart from the engine so the mapping (which neonize method, which enum, which
error) reads in one place, as ``chat_actions`` does for contacts, read and presence.
The shapes answered and reported are ``workers.engines.groups``'s, the sandbox's too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from neonize.exc import (
    CreateGroupError,
    GetGroupInfoError,
    GetGroupInviteLinkError,
    GetJoinedGroupsError,
    LeaveGroupError,
    SetGroupNameError,
    SetGroupTopicError,
    UpdateGroupParticipantsError,
)
from neonize.proto.Neonize_pb2 import JID, GroupInfo, GroupParticipant
from neonize.utils.enum import ParticipantChange as NeonizeChange

from relay.core.enums import EventType, GroupAction, ParticipantChange, ParticipantRole
from workers.engines.base import EngineError, GroupNotFound, NotConnected, UnsupportedCommand
from workers.engines.groups import (
    Group,
    Participant,
    ParticipantResult,
    changes_of,
    joined_event,
    participants_event,
    results_json,
    updated_event,
)
from workers.engines.whatsapp import outbound
from workers.engines.whatsapp.inbound import bare_jid

_GROUP_ERRORS = (
    CreateGroupError,
    GetGroupInfoError,
    GetGroupInviteLinkError,
    GetJoinedGroupsError,
    LeaveGroupError,
    SetGroupNameError,
    SetGroupTopicError,
    UpdateGroupParticipantsError,
)
# whatsmeow's words for a group that does not exist (404) or that the account is not in (403).
_NOT_FOUND_WORDS = ("group not found", "not participating", "item-not-found")
# What a participant's error code in WhatsApp's answer means (0: done).
PARTICIPANT_ERRORS = {
    403: "not allowed: their privacy settings, or the session is not an admin",
    404: "not in the group",
    408: "left the group recently and cannot be added back yet",
    409: "already in the group",
}
_CHANGES = {change: NeonizeChange(change.value) for change in ParticipantChange}
# whatsmeow's GroupInfo events: who joined, left, was promoted, demoted.
_EVENT_CHANGES = (
    ("Join", ParticipantChange.ADD),
    ("Leave", ParticipantChange.REMOVE),
    ("Promote", ParticipantChange.PROMOTE),
    ("Demote", ParticipantChange.DEMOTE),
)


def _refused(what: str, exc: Exception) -> EngineError:
    """whatsmeow's own words; a dropped socket is 409 at the API, an unknown group 404."""
    text = str(exc).lower()
    if "not connected" in text:
        return NotConnected(f"the connection dropped during {what}: {exc}")
    if any(words in text for words in _NOT_FOUND_WORDS):
        return GroupNotFound(f"group not found (the session is not in it): {exc}")
    return EngineError(str(exc))


def _address(*candidates: JID) -> str | None:
    """The first of ``candidates`` that is set: the phone-number JID before the LID."""
    for jid in candidates:
        if jid.User:
            return bare_jid(jid)
    return None


def _role(participant: GroupParticipant) -> ParticipantRole:
    if participant.IsSuperAdmin:
        return ParticipantRole.SUPERADMIN
    return ParticipantRole.ADMIN if participant.IsAdmin else ParticipantRole.MEMBER


def group_of(info: GroupInfo) -> Group:
    """neonize's ``GroupInfo`` as Relay's group; a participant WhatsApp refused is left out."""
    created = datetime.fromtimestamp(info.GroupCreated, UTC) if info.GroupCreated > 0 else None
    participants = [
        Participant(jid, _role(p))
        for p in info.Participants
        if not p.Error and (jid := _address(p.PhoneNumber, p.JID))
    ]
    return Group(
        jid=bare_jid(info.JID),
        subject=info.GroupName.Name,
        description=info.GroupTopic.Topic,
        owner=_address(info.OwnerPN, info.OwnerJID),
        created_at=created,
        participants=participants,
    )


def _results(
    change: ParticipantChange, asked: list[str], answer: list[GroupParticipant]
) -> list[ParticipantResult]:
    """One result per number asked about, matched on the user part (WhatsApp may answer with a LID)."""
    errors: dict[str, int] = {}
    for participant in answer:
        for jid in (participant.PhoneNumber, participant.JID):
            if jid.User:
                errors[jid.User] = participant.Error
    results = []
    for jid in asked:
        code = errors.get(jid.split("@", 1)[0])
        if code == 0:
            results.append(ParticipantResult(jid, change, True))
        else:
            why = "WhatsApp did not answer for this number" if code is None else None
            why = why or PARTICIPANT_ERRORS.get(code or 0, f"WhatsApp refused it (error {code})")
            results.append(ParticipantResult(jid, change, False, why))
    return results


async def call(client: Any, action: GroupAction, params: dict[str, Any]) -> dict[str, Any]:
    """Carry out one group call on a connected client (``workers.engines.groups`` lists them)."""
    try:
        return await _call(client, action, params)
    except _GROUP_ERRORS as exc:
        raise _refused(f"the group call {action}", exc) from exc


async def _call(client: Any, action: GroupAction, params: dict[str, Any]) -> dict[str, Any]:
    if action == GroupAction.LIST:
        return {"groups": [group_of(info).to_json() for info in await client.get_joined_groups()]}
    if action == GroupAction.CREATE:
        members = [outbound.parse_recipient(str(jid)) for jid in params.get("participants") or []]
        info = await client.create_group(str(params["subject"]), members)
        return {"group": group_of(info).to_json()}
    group = outbound.parse_recipient(str(params["jid"]))
    if action == GroupAction.INFO:
        return {"group": group_of(await client.get_group_info(group)).to_json()}
    if action == GroupAction.UPDATE:
        if params.get("subject") is not None:
            await client.set_group_name(group, str(params["subject"]))
        if params.get("description") is not None:
            # Empty ids: whatsmeow looks up the current topic's id and mints the new one itself.
            await client.set_group_topic(group, "", "", str(params["description"]))
        return {"group": group_of(await client.get_group_info(group)).to_json()}
    if action == GroupAction.PARTICIPANTS:
        results: list[ParticipantResult] = []
        for change, jids in changes_of(params):
            if jids:
                members = [outbound.parse_recipient(jid) for jid in jids]
                answer = await client.update_group_participants(group, members, _CHANGES[change])
                results += _results(change, jids, list(answer))
        return results_json(results)
    if action == GroupAction.LEAVE:
        await client.leave_group(group)
        return {}
    if action == GroupAction.INVITE_LINK:
        return {"link": str(await client.get_group_invite_link(group, False))}
    raise UnsupportedCommand(f"unknown group action {action!r}")


def joined(event: Any) -> tuple[EventType, dict[str, Any]]:
    """neonize's ``JoinedGroupEv``: the session was added to, created or joined a group."""
    by = _address(event.SenderPN, event.Sender)
    return EventType.GROUP_JOINED, joined_event(group_of(event.GroupInfo), by, event.Reason or event.Type)


def group_changes(event: Any) -> list[tuple[EventType, dict[str, Any]]]:
    """neonize's ``GroupInfoEv``: a new subject or description, and who joined, left, was promoted."""
    group, by = bare_jid(event.JID), _address(event.Sender)
    found: list[tuple[EventType, dict[str, Any]]] = []
    subject = event.Name.Name if event.HasField("Name") else None
    description = event.Topic.Topic if event.HasField("Topic") else None
    if subject is not None or description is not None:
        data = updated_event(group, by, subject=subject, description=description)
        found.append((EventType.GROUP_UPDATED, data))
    for field, change in _EVENT_CHANGES:
        members = [bare_jid(jid) for jid in getattr(event, field)]
        if members:
            found.append((EventType.GROUP_PARTICIPANTS, participants_event(group, change, members, by)))
    return found
