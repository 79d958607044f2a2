"""neonize's inbound protobufs → the documented ``message.received`` / ``message.ack`` data.

Pure functions, so every mapping can be checked with neonize's own protobufs.
Timestamps: ``MessageInfo.Timestamp`` is Unix *milliseconds*, ``Receipt.Timestamp``
Unix *seconds* (neonize's Go encoder uses ``UnixMilli`` for one and ``Unix`` for the other).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from neonize.proto.Neonize_pb2 import JID, Message, Receipt
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage

from relay.core.enums import AckStatus
from relay.core.times import isoformat
from workers.engines.base import MEDIA_REFERENCE
from workers.engines.whatsapp.media_download import media_reference
from workers.engines.whatsapp.runtime import format_jid

PHONE_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"

RECEIPT_STATUS = {
    Receipt.DELIVERED: AckStatus.DELIVERED,
    Receipt.READ: AckStatus.READ,
    Receipt.PLAYED: AckStatus.PLAYED,
}

# Wrappers whose inner message is the real content.
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
)

# Content-free protocol traffic: key distribution, app-state sync, history notifications.
_NOT_A_MESSAGE = ("protocolMessage", "senderKeyDistributionMessage", "messageContextInfo")

_MEDIA = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}


def from_unix(value: int, *, milliseconds: bool) -> datetime:
    """A neonize timestamp as UTC; values too small to be milliseconds are read as seconds."""
    if milliseconds and value > 100_000_000_000:
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromtimestamp(value, UTC)


def bare_jid(jid: JID) -> str:
    """A user or chat address without the device part (what integrators reply to)."""
    if not jid.User and not jid.Server:
        return ""
    return f"{jid.User}@{jid.Server}" if jid.User else jid.Server


@dataclass(frozen=True, slots=True)
class Content:
    type: str
    text: str
    extra: dict[str, Any]
    context: ContextInfo | None


def unwrap(message: WAMessage) -> WAMessage:
    for _ in range(4):
        for wrapper in _WRAPPERS:
            if message.HasField(wrapper):
                message = getattr(message, wrapper).message
                break
        else:
            return message
    return message


def classify(message: WAMessage) -> Content | None:
    """What kind of message this is; ``None`` for protocol traffic nobody should see."""
    message = unwrap(message)
    if message.HasField("conversation") or message.conversation:
        return Content("text", message.conversation, {}, None)
    if message.HasField("extendedTextMessage"):
        ext = message.extendedTextMessage
        return Content("text", ext.text, {}, ext.contextInfo if ext.HasField("contextInfo") else None)
    for field, kind in _MEDIA.items():
        if message.HasField(field):
            media = getattr(message, field)
            caption = getattr(media, "caption", "") or ""
            described: dict[str, Any] = {
                "type": kind,
                "mimetype": media.mimetype,
                "size": int(media.fileLength),
                "caption": caption,
            }
            if field == "documentMessage":
                described["filename"] = media.fileName or media.title or None
            if field == "audioMessage":
                # A voice note recorded in the chat, as opposed to an audio file sent.
                described["ptt"] = bool(media.PTT)
            described[MEDIA_REFERENCE] = media_reference(field, media)
            context = media.contextInfo if media.HasField("contextInfo") else None
            return Content(kind, caption, {"media": described}, context)
    if message.HasField("locationMessage") or message.HasField("liveLocationMessage"):
        live = message.HasField("liveLocationMessage")
        loc = message.liveLocationMessage if live else message.locationMessage
        location = {
            "latitude": loc.degreesLatitude,
            "longitude": loc.degreesLongitude,
            "name": None if live else (loc.name or None),
            "address": None if live else (loc.address or None),
            "live": live,
        }
        text = loc.caption if live else (loc.comment or loc.name)
        context = loc.contextInfo if loc.HasField("contextInfo") else None
        return Content("location", text or "", {"location": location}, context)
    if message.HasField("contactMessage"):
        card = message.contactMessage
        contacts = [{"name": card.displayName, "vcard": card.vcard}]
        context = card.contextInfo if card.HasField("contextInfo") else None
        return Content("contact", card.displayName, {"contacts": contacts}, context)
    if message.HasField("contactsArrayMessage"):
        array = message.contactsArrayMessage
        contacts = [{"name": c.displayName, "vcard": c.vcard} for c in array.contacts]
        context = array.contextInfo if array.HasField("contextInfo") else None
        return Content("contact", array.displayName, {"contacts": contacts}, context)
    if message.HasField("reactionMessage"):
        reaction = message.reactionMessage
        # An empty emoji means the sender removed their reaction.
        data = {"reaction": {"emoji": reaction.text, "message_id": reaction.key.ID}}
        return Content("reaction", reaction.text, data, None)
    for field in ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3"):
        if message.HasField(field):
            return Content("poll", getattr(message, field).name, {}, None)
    if any(message.HasField(field) for field in _NOT_A_MESSAGE) or not message.ListFields():
        return None
    return Content("unknown", "", {}, None)


def sender_addresses(event: Message) -> tuple[str, str | None, str | None]:
    """(from, from_pn, from_lid): both forms where neonize offers them, ``from`` preferring the number."""
    source = event.Info.MessageSource
    sender, alternate = bare_jid(source.Sender), bare_jid(source.SenderAlt)
    pn = lid = None
    if source.Sender.Server == LID_SERVER:
        lid = sender
        pn = alternate if source.SenderAlt.Server == PHONE_SERVER else None
    elif source.Sender.Server == PHONE_SERVER:
        pn = sender
        lid = alternate if source.SenderAlt.Server == LID_SERVER else None
    return pn or sender, pn, lid


def message_received(event: Message, *, offline: bool = False) -> dict[str, Any] | None:
    """The ``message.received`` data for a neonize ``Message`` event, or ``None`` to drop it.

    ``offline``: WhatsApp held it while the session was away and delivers it in the catch-up.
    """
    content = classify(event.Message)
    if content is None:
        return None
    info, source = event.Info, event.Info.MessageSource
    chat = bare_jid(source.Chat)
    sender, pn, lid = sender_addresses(event)
    data: dict[str, Any] = {
        "whatsapp_id": info.ID,
        "chat": chat,
        "from": sender,
        "from_me": bool(source.IsFromMe),
        "push_name": info.Pushname,
        "timestamp": isoformat(from_unix(info.Timestamp, milliseconds=True)),
        "type": content.type,
        "text": content.text,
        "is_group": bool(source.IsGroup),
    }
    data.update(content.extra)
    if content.context is not None and content.context.stanzaID:
        data["quoted_id"] = content.context.stanzaID
    if source.IsGroup:
        data["group"] = {"id": chat, "participant": sender}
    if pn:
        data["from_pn"] = pn
    if lid:
        data["from_lid"] = lid
    if offline:
        data["offline"] = True
    return data


def message_ack(event: Receipt) -> dict[str, Any] | None:
    """The ``message.ack`` data for a delivered/read/played receipt; other receipt types are dropped."""
    status = RECEIPT_STATUS.get(event.Type)
    if status is None or not event.MessageIDs:
        return None
    return {
        "whatsapp_ids": list(event.MessageIDs),
        "chat": bare_jid(event.MessageSource.Chat),
        "status": status,
        "timestamp": isoformat(from_unix(event.Timestamp, milliseconds=False)),
    }


def own_address(me: Any) -> tuple[str | None, str | None]:
    """(phone, jid) of the linked account from neonize's ``Device`` (``client.me``)."""
    if me is None or not me.HasField("JID") or not me.JID.User:
        return None, None
    return me.JID.User, format_jid(me.JID)
