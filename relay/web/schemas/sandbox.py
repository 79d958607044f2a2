"""The sandbox's phone: what a test may make it do, and what it answers."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from relay.core.schemas import Between, NullsOmitted, ResponseBody
from relay.web.schemas.fields import PhoneNumber, Recipient
from relay.web.schemas.groups import Participants, Subject
from relay.web.schemas.messages import MAX_TEXT

MAX_INBOUND_BURST = 1000


class SandboxScan(NullsOmitted):
    phone: PhoneNumber | None = Field(default=None, description="The number the phone links as")


class SandboxInbound(NullsOmitted):
    from_: Recipient = Field(alias="from", description="Who writes")
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    count: Annotated[int, Between(1, MAX_INBOUND_BURST)] = Field(
        default=1, description="A burst of this many"
    )


# The longest a sandbox drop may keep the connection down (an hour is plenty to queue messages).
MAX_DROP_SECONDS = 3600


class SandboxDrop(NullsOmitted):
    seconds: Annotated[int, Between(1, MAX_DROP_SECONDS)] = Field(
        default=1, description="How long the connection stays down before it comes back"
    )


class SandboxJoinGroup(NullsOmitted):
    from_: Recipient = Field(
        alias="from", description="The contact who creates the group and adds the session"
    )
    subject: Subject
    participants: Participants = Field(default_factory=list, description="Who else is in it")


class NoBody(NullsOmitted):
    """Actions that take no fields; a body, if sent, must still be a JSON object."""


class SandboxAccepted(ResponseBody):
    """``accepted``, plus what the simulated phone reports (``phone`` and ``jid`` on a scan,
    ``whatsapp_ids`` on inbound messages, ``seen`` on seen: the read receipts, presence and
    messages the session's contacts saw, oldest first, each ``{kind, chat, ...}``)."""

    model_config = ConfigDict(extra="allow")

    accepted: bool
