"""``OutgoingMessage`` → a WhatsApp protobuf ready for ``send_message``.

Media is loaded by ``workers.engines.media`` (a URL behind the SSRF guard, or base64) and
uploaded through the live client; everything else is built locally. Replies and reactions
need to know who wrote the message they point at; ``RecentMessages`` remembers that for
messages this session saw.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from neonize.proto.Neonize_pb2 import JID
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    ImageMessage,
    LocationMessage,
    Message,
    ReactionMessage,
    VideoMessage,
)
from neonize.utils.enum import MediaType

from workers.engines.base import EngineError
from workers.engines.media import load_media
from workers.engines.whatsapp.media_facts import NEEDS_FFMPEG, MediaFacts, media_facts, require_ffmpeg
from workers.engines.whatsapp.runtime import parse_jid

RECENT_MESSAGES = 500
MEDIA_UPLOAD_TYPES = {
    "image": MediaType.MediaImage,
    "video": MediaType.MediaVideo,
    "audio": MediaType.MediaAudio,
    "document": MediaType.MediaDocument,
}
_PHONE = re.compile(r"^\+?[0-9]{6,20}$")


def parse_recipient(to: str) -> JID:
    """Digits (``+`` and spaces allowed) or a JID string such as ``…@g.us``."""
    value = to.strip().replace(" ", "")
    if "@" in value:
        user, _, server = value.partition("@")
        if not server or not user:
            raise EngineError(f"invalid recipient {to!r}")
        return parse_jid(value)
    if not _PHONE.match(value):
        raise EngineError(f"invalid recipient {to!r}: use digits with the country code or a JID")
    return parse_jid(value.lstrip("+"))


@dataclass(frozen=True, slots=True)
class KnownMessage:
    chat: str
    sender: str
    from_me: bool
    text: str


class RecentMessages:
    """A bounded memory of recent message ids, so replies and reactions can address them."""

    def __init__(self, limit: int = RECENT_MESSAGES) -> None:
        self._limit = limit
        self._items: OrderedDict[str, KnownMessage] = OrderedDict()

    def remember(self, whatsapp_id: str, message: KnownMessage) -> None:
        self._items[whatsapp_id] = message
        self._items.move_to_end(whatsapp_id)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def get(self, whatsapp_id: str) -> KnownMessage | None:
        return self._items.get(whatsapp_id)


def _reply_context(reply_to: str, chat: JID, recent: RecentMessages) -> ContextInfo:
    known = recent.get(reply_to)
    context = ContextInfo(stanzaID=reply_to)
    if known is not None:
        context.participant = known.sender
        context.quotedMessage.CopyFrom(Message(conversation=known.text))
    elif chat.Server != "g.us":
        context.participant = f"{chat.User}@{chat.Server}"
    return context


def build_text(payload: dict[str, Any], chat: JID, recent: RecentMessages) -> Message:
    text = payload.get("text")
    if not isinstance(text, str) or not text:
        raise EngineError("a text message needs a non-empty 'text'")
    reply_to = payload.get("reply_to")
    if not reply_to:
        # A plain conversation carries no preview: link previews stay off unless asked for.
        return Message(conversation=text)
    extended = ExtendedTextMessage(text=text)
    extended.contextInfo.CopyFrom(_reply_context(str(reply_to), chat, recent))
    return Message(extendedTextMessage=extended)


def build_reaction(
    payload: dict[str, Any], chat: JID, recent: RecentMessages, *, now_ms: int | None = None
) -> Message:
    message_id, emoji = payload.get("message_id"), payload.get("emoji")
    if not message_id or not isinstance(emoji, str):
        raise EngineError("a reaction needs 'message_id' and 'emoji' ('' removes it)")
    known = recent.get(str(message_id))
    key = MessageKey(
        remoteJID=f"{chat.User}@{chat.Server}",
        fromMe=known.from_me if known else False,
        ID=str(message_id),
    )
    if chat.Server == "g.us" and known is not None and not known.from_me:
        key.participant = known.sender
    reaction = ReactionMessage(key=key, text=emoji, senderTimestampMS=now_ms or int(time.time() * 1000))
    return Message(reactionMessage=reaction)


def build_location(payload: dict[str, Any]) -> Message:
    try:
        latitude, longitude = float(payload["latitude"]), float(payload["longitude"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineError("a location needs numeric 'latitude' and 'longitude'") from exc
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise EngineError("latitude must be within ±90 and longitude within ±180")
    location = LocationMessage(degreesLatitude=latitude, degreesLongitude=longitude)
    if payload.get("name"):
        location.name = str(payload["name"])
    if payload.get("address"):
        location.address = str(payload["address"])
    return Message(locationMessage=location)


def sniff_mimetype(data: bytes) -> str:
    import magic

    return str(magic.from_buffer(data[:8192], mime=True))


def media_message(
    kind: str,
    upload: Any,
    data_length: int,
    payload: dict[str, Any],
    mimetype: str,
    facts: MediaFacts | None = None,
) -> Message:
    """The media protobuf for an uploaded file (``upload`` is neonize's ``UploadResponse``)."""
    common = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength or data_length,
        "mimetype": mimetype,
    }
    caption = payload.get("caption")
    if kind == "image":
        return Message(imageMessage=ImageMessage(caption=caption, **common))
    if kind == "video":
        video = VideoMessage(caption=caption, **common)
        if facts is not None:
            video.seconds = facts.seconds
            if facts.thumbnail:
                video.JPEGThumbnail = facts.thumbnail
        return Message(videoMessage=video)
    if kind == "audio":
        audio = AudioMessage(PTT=bool(payload.get("voice")), **common)
        if facts is not None:
            audio.seconds = facts.seconds
        return Message(audioMessage=audio)
    filename = str(payload.get("filename") or "file")
    return Message(
        documentMessage=DocumentMessage(caption=caption, fileName=filename, title=filename, **common)
    )


async def build_message(
    client: Any,
    kind: str,
    payload: dict[str, Any],
    chat: JID,
    recent: RecentMessages,
    *,
    media_allow_private: bool = False,
) -> Message:
    """The protobuf for one outgoing message; media is fetched and uploaded through ``client``."""
    if kind == "text":
        return build_text(payload, chat, recent)
    if kind == "reaction":
        return build_reaction(payload, chat, recent)
    if kind == "location":
        return build_location(payload)
    if kind in MEDIA_UPLOAD_TYPES:
        require_ffmpeg(kind)  # before the fetch: without ffmpeg the message fails either way
        data = await load_media(payload.get("media"), allow_private=media_allow_private)
        mimetype = str(payload.get("mimetype") or sniff_mimetype(data))
        facts = await media_facts(kind, data) if kind in NEEDS_FFMPEG else None
        upload = await client.upload(data, MEDIA_UPLOAD_TYPES[kind])
        return media_message(kind, upload, len(data), payload, mimetype, facts)
    raise EngineError(f"unsupported message type {kind!r}")
