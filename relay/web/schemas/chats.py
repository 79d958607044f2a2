"""Contacts check, read receipts and presence: what a caller sends and what it gets back."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from relay.core.schemas import NullsOmitted, ResponseBody
from relay.web.schemas.fields import PhoneNumber, Recipient

# whatsmeow's IsOnWhatsApp takes a batch; 50 keeps one call well inside WhatsApp's usync limits.
MAX_CONTACTS_PER_CHECK = 50
# One receipt names its messages in one stanza; a hundred covers any unread backlog worth marking.
MAX_READ_IDS = 100

WhatsAppMessageId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


class ContactsCheckRequest(NullsOmitted):
    phones: Annotated[list[PhoneNumber], Field(min_length=1, max_length=MAX_CONTACTS_PER_CHECK)] = Field(
        description=f"1 to {MAX_CONTACTS_PER_CHECK} phone numbers"
    )


class ContactStatus(ResponseBody):
    phone: str = Field(description="The number as checked: digits, no +")
    on_whatsapp: bool
    jid: str | None = Field(description="Where to write to it; null when it is not on WhatsApp")


class ContactsCheck(ResponseBody):
    data: list[ContactStatus]


class ReadRequest(NullsOmitted):
    chat: Recipient = Field(description="The chat the messages are in")
    message_ids: Annotated[list[WhatsAppMessageId], Field(min_length=1, max_length=MAX_READ_IDS)] = Field(
        description="WhatsApp ids of the messages to mark read"
    )
    sender: Recipient | None = Field(
        default=None, description="Who wrote them, in a group chat; defaults to the chat itself"
    )


class PresenceRequest(NullsOmitted):
    chat: Recipient
    state: Literal["typing", "recording", "paused"]


class ChatActionDone(ResponseBody):
    """The worker carried it out: the receipts or the presence went to WhatsApp."""

    done: bool
