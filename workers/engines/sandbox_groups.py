"""The sandbox's groups: what a phone's groups do, simulated, with the events a real one causes.

Groups live in the engine's memory: they last while the session's engine runs (a
dropped connection keeps them) and are forgotten when the session stops or its
worker restarts (SPEC "Groups"). The rules integrators can count on:

- the session creates a group as its ``superadmin``; a participant whose number ends
  in ``0`` is not on WhatsApp (as ``contacts/check`` says) and is left out;
- adding such a number fails for that number alone, as does adding a member twice or
  removing, promoting or demoting someone who is not a member;
- only an admin may change participants or read the invite link, as on WhatsApp;
- the invite link is derived from the group's JID, so it is the same every time;
- ``sandbox/join-group`` makes "someone else" add the session to a new group of theirs.

Every change emits the event a real phone's would: ``group.joined``, ``group.updated``,
``group.participants``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from relay.core.enums import EventType, GroupAction, ParticipantChange, ParticipantRole
from workers.engines.base import EngineError, EngineReporter, GroupNotFound, UnsupportedCommand
from workers.engines.groups import (
    INVITE_LINK_PREFIX,
    Group,
    Participant,
    ParticipantResult,
    changes_of,
    joined_event,
    participants_event,
    results_json,
    updated_event,
)

# WhatsApp's group JIDs: 120363 then a number, on g.us.
GROUP_JID_PREFIX = "120363"
ADMIN_ROLES = frozenset({ParticipantRole.ADMIN, ParticipantRole.SUPERADMIN})


def invite_link(group_jid: str) -> str:
    """Deterministic: a digest of the group's JID, shaped like WhatsApp's 22-character codes."""
    digest = hashlib.sha256(group_jid.encode()).digest()
    return INVITE_LINK_PREFIX + base64.b32encode(digest).decode()[:22]


class SandboxGroups:
    """One sandbox session's groups; ``me`` is the session's own JID while it is linked.

    ``on_whatsapp`` is the sandbox's rule for who has an account, the one ``contacts/check`` answers by.
    """

    def __init__(self, reporter: EngineReporter, on_whatsapp: Callable[[str], bool]) -> None:
        self._reporter = reporter
        self._on_whatsapp = on_whatsapp
        self._groups: dict[str, Group] = {}

    async def call(self, me: str, action: GroupAction, params: dict[str, Any]) -> dict[str, Any]:
        if action == GroupAction.LIST:
            return {"groups": [group.to_json() for group in self._groups.values()]}
        if action == GroupAction.CREATE:
            return await self._create(me, str(params["subject"]), list(params.get("participants") or []))
        group = self._group(str(params["jid"]))
        if action == GroupAction.INFO:
            return {"group": group.to_json()}
        if action == GroupAction.UPDATE:
            return await self._update(me, group, params.get("subject"), params.get("description"))
        if action == GroupAction.PARTICIPANTS:
            return await self._change_participants(me, group, params)
        if action == GroupAction.LEAVE:
            del self._groups[group.jid]
            left = participants_event(group.jid, ParticipantChange.REMOVE, [me], me)
            await self._reporter.group_event(EventType.GROUP_PARTICIPANTS, left)
            return {}
        if action == GroupAction.INVITE_LINK:
            self._require_admin(me, group)
            return {"link": invite_link(group.jid)}
        raise UnsupportedCommand(f"unknown group action {action!r}")

    async def added_by(self, me: str, params: dict[str, Any]) -> dict[str, Any]:
        """``sandbox/join-group``: a contact creates a group with the session in it."""
        owner = str(params["from"])
        others = [str(jid) for jid in params.get("participants") or [] if self._on_whatsapp(str(jid))]
        members = [Participant(owner, ParticipantRole.SUPERADMIN), Participant(me)]
        members += [Participant(jid) for jid in dict.fromkeys(others) if jid not in {owner, me}]
        group = self._new_group(str(params["subject"]), owner, members)
        await self._reporter.group_event(EventType.GROUP_JOINED, joined_event(group, owner, "added"))
        return {"jid": group.jid}

    # -- the actions -----------------------------------------------------------------------

    def _group(self, jid: str) -> Group:
        group = self._groups.get(jid)
        if group is None:
            raise GroupNotFound(f"group {jid} not found (the session is not in it)")
        return group

    def _new_group(self, subject: str, owner: str, members: list[Participant]) -> Group:
        jid = f"{GROUP_JID_PREFIX}{secrets.randbelow(10**12):012d}@g.us"
        group = Group(jid, subject, "", owner, datetime.now(UTC), members)
        self._groups[jid] = group
        return group

    async def _create(self, me: str, subject: str, participants: list[str]) -> dict[str, Any]:
        members = [Participant(me, ParticipantRole.SUPERADMIN)]
        members += [
            Participant(jid) for jid in dict.fromkeys(participants) if jid != me and self._on_whatsapp(jid)
        ]
        group = self._new_group(subject, me, members)
        await self._reporter.group_event(EventType.GROUP_JOINED, joined_event(group, me, "created"))
        return {"group": group.to_json()}

    async def _update(
        self, me: str, group: Group, subject: str | None, description: str | None
    ) -> dict[str, Any]:
        if subject is not None:
            group.subject = subject
        if description is not None:
            group.description = description
        if subject is not None or description is not None:
            data = updated_event(group.jid, me, subject=subject, description=description)
            await self._reporter.group_event(EventType.GROUP_UPDATED, data)
        return {"group": group.to_json()}

    def _require_admin(self, me: str, group: Group) -> None:
        if not any(p.jid == me and p.role in ADMIN_ROLES for p in group.participants):
            raise EngineError("not-authorized: the session is not an admin of this group")

    async def _change_participants(self, me: str, group: Group, params: dict[str, Any]) -> dict[str, Any]:
        self._require_admin(me, group)
        results: list[ParticipantResult] = []
        for change, jids in changes_of(params):
            done = [jid for jid in dict.fromkeys(jids) if self._apply(group, change, jid, results)]
            if done:
                await self._reporter.group_event(
                    EventType.GROUP_PARTICIPANTS, participants_event(group.jid, change, done, me)
                )
        return results_json(results)

    def _apply(
        self, group: Group, change: ParticipantChange, jid: str, results: list[ParticipantResult]
    ) -> bool:
        """Make one change if WhatsApp would; note the outcome in ``results``."""
        member = next((p for p in group.participants if p.jid == jid), None)
        error: str | None = None
        if change == ParticipantChange.ADD:
            if not self._on_whatsapp(jid):
                error = "not on WhatsApp"
            elif member is not None:
                error = "already in the group"
            else:
                group.participants.append(Participant(jid))
        elif member is None:
            error = "not in the group"
        elif member.role == ParticipantRole.SUPERADMIN and change != ParticipantChange.PROMOTE:
            error = "the group's creator cannot be removed or demoted"
        elif change == ParticipantChange.REMOVE:
            group.participants.remove(member)
        else:
            promoted = change == ParticipantChange.PROMOTE
            member.role = ParticipantRole.ADMIN if promoted else ParticipantRole.MEMBER
        results.append(ParticipantResult(jid, change, error is None, error))
        return error is None
