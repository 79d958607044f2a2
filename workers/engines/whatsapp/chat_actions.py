"""Contacts check, read receipts and presence: Relay's calls mapped onto neonize's client.

Kept apart from the engine so the mapping (which neonize method, which enum, which
error) reads in one place; the engine only checks it is connected first.
"""

from __future__ import annotations

from typing import Any

from neonize.exc import IsOnWhatsAppError, MarkReadError, SendPresenceError
from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ReceiptType

from workers.engines.base import ContactCheck, EngineError, NotConnected
from workers.engines.whatsapp import inbound, outbound

# Relay's presence states as whatsmeow's (state, media) pair: "recording" is composing audio.
PRESENCES = {
    "typing": (ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT),
    "recording": (ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO),
    "paused": (ChatPresence.CHAT_PRESENCE_PAUSED, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT),
}


def _refused(what: str, exc: Exception) -> EngineError:
    """whatsmeow's own words; a dropped socket is ``NotConnected`` so the API says 409, not 502."""
    if "not connected" in str(exc).lower():
        return NotConnected(f"the connection dropped during {what}: {exc}")
    return EngineError(str(exc))


async def check_contacts(client: Any, phones: list[str]) -> list[ContactCheck]:
    """One usync query for the batch; whatsmeow wants each number with its ``+``."""
    try:
        answers = await client.is_on_whatsapp(*(f"+{phone}" for phone in phones))
    except IsOnWhatsAppError as exc:
        raise _refused("the contacts check", exc) from exc
    found = {str(answer.Query).lstrip("+"): answer for answer in answers}
    checks = []
    for phone in phones:
        answer = found.get(phone)
        on_whatsapp = bool(answer is not None and answer.IsIn)
        jid = inbound.bare_jid(answer.JID) if on_whatsapp and answer is not None else None
        checks.append(ContactCheck(phone=phone, on_whatsapp=on_whatsapp, jid=jid or None))
    return checks


async def mark_read(client: Any, chat: str, message_ids: list[str], sender: str | None) -> None:
    """In a 1:1 chat the sender is the chat; in a group WhatsApp needs who wrote the messages."""
    chat_jid = outbound.parse_recipient(chat)
    sender_jid = outbound.parse_recipient(sender) if sender else chat_jid
    try:
        await client.mark_read(*message_ids, chat=chat_jid, sender=sender_jid, receipt=ReceiptType.READ)
    except MarkReadError as exc:
        raise _refused("read receipts", exc) from exc


async def send_presence(client: Any, chat: str, state: str) -> None:
    if state not in PRESENCES:
        raise EngineError(f"unknown presence state {state!r}")
    presence, media = PRESENCES[state]
    try:
        await client.send_chat_presence(outbound.parse_recipient(chat), presence, media)
    except SendPresenceError as exc:
        raise _refused("presence", exc) from exc
