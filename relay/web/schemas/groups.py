"""Groups: what a caller sends and what it gets back (SPEC "Groups")."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from relay.core.enums import ParticipantChange, ParticipantRole
from relay.core.schemas import NullsOmitted, OptionalQuery, PageQuery, ResponseBody, Timestamp
from relay.web.schemas.fields import GroupJid, Recipient

# Numbers one call may name: a create, or all the changes of one participants call together.
MAX_PARTICIPANTS_PER_CALL = 50
# WhatsApp's own limits on a group's subject and description.
MAX_SUBJECT = 100
MAX_DESCRIPTION = 2048

Subject = Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT, description="The group's name")]
Participants = Annotated[list[Recipient], Field(max_length=MAX_PARTICIPANTS_PER_CALL)]


class GroupCreate(NullsOmitted):
    subject: Subject
    participants: Participants = Field(
        default_factory=list, description=f"Who to add besides the session, up to {MAX_PARTICIPANTS_PER_CALL}"
    )


class GroupUpdate(NullsOmitted):
    subject: Subject | None = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = Field(
        default=None, description="The group's description; an empty string removes it"
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if self.subject is None and self.description is None:
            raise PydanticCustomError("nothing_to_change", "send subject, description or both")
        return self


class ParticipantsRequest(NullsOmitted):
    """Who to add, remove, promote to admin or demote; each list may be left out, not all of them."""

    add: Participants = Field(default_factory=list)
    remove: Participants = Field(default_factory=list)
    promote: Participants = Field(default_factory=list)
    demote: Participants = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_but_not_too_many(self) -> Self:
        total = sum(len(getattr(self, change)) for change in ParticipantChange)
        if total == 0:
            raise PydanticCustomError("no_participants", "name someone to add, remove, promote or demote")
        if total > MAX_PARTICIPANTS_PER_CALL:
            raise PydanticCustomError(
                "too_many_participants",
                f"at most {MAX_PARTICIPANTS_PER_CALL} numbers per call, all lists together",
            )
        return self


class GroupListQuery(PageQuery):
    cursor: OptionalQuery[GroupJid] = None


class GroupParticipant(ResponseBody):
    jid: str
    role: ParticipantRole


class Group(ResponseBody):
    jid: str
    subject: str
    description: str = Field(description="Empty when the group has none")
    owner: str | None = Field(description="Who created it, when WhatsApp says")
    created_at: Timestamp | None
    participants: list[GroupParticipant]


class GroupList(ResponseBody):
    """The session's groups by JID; ``next_cursor`` is the last JID of a full page."""

    data: list[Group]
    next_cursor: str | None


class ParticipantResult(ResponseBody):
    jid: str
    change: ParticipantChange
    ok: bool
    error: str | None = Field(description="Why this number was not changed; null when it was")


class ParticipantResults(ResponseBody):
    data: list[ParticipantResult]


class InviteLink(ResponseBody):
    link: str = Field(examples=["https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv"])
