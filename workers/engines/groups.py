"""What a group call takes and answers, the same for every engine (SPEC "Groups").

Each ``Engine.groups(action, params)`` call answers a JSON-ready dict built here, so
the sandbox and the real engine cannot drift apart, and the web validates it with
``relay.web.schemas.groups`` on the way out:

- ``list`` ``{}`` → ``{"groups": [group, ...]}``
- ``info`` ``{jid}`` → ``{"group": group}``
- ``create`` ``{subject, participants: [jid]}`` → ``{"group": group}``
- ``update`` ``{jid, subject?, description?}`` → ``{"group": group}``
- ``participants`` ``{jid, changes: {add|remove|promote|demote: [jid]}}``
  → ``{"results": [{jid, change, ok, error}]}``, one per number asked about
- ``leave`` ``{jid}`` → ``{}``
- ``invite_link`` ``{jid}`` → ``{"link": "https://chat.whatsapp.com/..."}``

A group is ``{jid, subject, description, owner, created_at, participants: [{jid, role}]}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from relay.core.enums import ParticipantChange, ParticipantRole
from relay.core.times import isoformat

INVITE_LINK_PREFIX = "https://chat.whatsapp.com/"


@dataclass(slots=True)
class Participant:
    jid: str
    role: ParticipantRole = ParticipantRole.MEMBER


@dataclass(slots=True)
class Group:
    jid: str
    subject: str
    description: str
    owner: str | None
    created_at: datetime | None
    participants: list[Participant] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = isoformat(self.created_at) if self.created_at else None
        return data


@dataclass(frozen=True, slots=True)
class ParticipantResult:
    """What became of one number in a participants call; ``error`` says why it was not changed."""

    jid: str
    change: ParticipantChange
    ok: bool
    error: str | None = None


def results_json(results: list[ParticipantResult]) -> dict[str, Any]:
    return {"results": [asdict(result) for result in results]}


def participants_event(
    group_jid: str, change: ParticipantChange, participants: list[str], by: str | None
) -> dict[str, Any]:
    """``group.participants``: who joined, left, was promoted or demoted, and by whom."""
    return {"jid": group_jid, "change": change, "participants": participants, "by": by}


def updated_event(
    group_jid: str, by: str | None, *, subject: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """``group.updated``: the fields that changed; ``null`` is a field that did not."""
    return {"jid": group_jid, "subject": subject, "description": description, "by": by}


def joined_event(group: Group, by: str | None, reason: str | None) -> dict[str, Any]:
    """``group.joined``: the session is in a group it was not in (created it, was added, joined by link)."""
    return {"group": group.to_json(), "by": by, "reason": reason or None}


def changes_of(params: dict[str, Any]) -> list[tuple[ParticipantChange, list[str]]]:
    """The participants call's changes in a fixed order (add, remove, promote, demote)."""
    changes = dict(params.get("changes") or {})
    return [(change, [str(jid) for jid in changes.get(change) or []]) for change in ParticipantChange]
