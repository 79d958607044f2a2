"""Outbound messages: what a send may say, per type, and the message as the API shows it.

The validated body minus ``to`` and ``type`` is the payload stored on the
``OutboundMessage`` and handed to the engine; unknown fields are dropped so an
engine never sees something nobody checked.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, RootModel, Tag, model_validator
from pydantic_core import PydanticCustomError

from relay.core import models
from relay.core.enums import MEDIA_MESSAGE_TYPES, MessageStatus, MessageType
from relay.core.schemas import (
    Between,
    Identified,
    MessageId,
    NullsOmitted,
    OptionalQuery,
    PageQuery,
    Timestamp,
    parse,
)
from relay.web.schemas.fields import Recipient

MAX_TEXT = 65_536
MAX_CAPTION = 4_096
MAX_URL = 2_048


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > MAX_URL:
        raise PydanticCustomError("http_url", "must be an http or https URL")
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("base64", "is not valid base64") from None
    return value


class MediaSource(NullsOmitted):
    """Where the file comes from: exactly one of ``url`` and ``base64``."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["url"]}, {"required": ["base64"]}]})

    url: Annotated[str, Field(json_schema_extra={"format": "uri"}), AfterValidator(_http_url)] | None = None
    base64: (
        Annotated[
            str, Field(min_length=1, json_schema_extra={"contentEncoding": "base64"}), AfterValidator(_base64)
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.url is None) == (self.base64 is None):
            raise PydanticCustomError("media_source", "must have exactly one of url and base64")
        return self


class _Outgoing(NullsOmitted):
    to: Recipient

    def payload(self) -> dict[str, Any]:
        """What the engine needs besides the recipient and the type; unset fields are left out."""
        return self.model_dump(mode="json", exclude={"to", "type"}, exclude_none=True)


class TextMessage(_Outgoing):
    type: Literal[MessageType.TEXT] = MessageType.TEXT
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    reply_to: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="WhatsApp id of the quoted message"
    )
    link_preview: bool | None = None
    typing: bool | None = Field(
        default=None,
        description="Show 'typing…' first, for 50 ms per character (at most 5 s), then send",
    )


class ReactionMessage(_Outgoing):
    type: Literal[MessageType.REACTION]
    message_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="WhatsApp id of the message"
    )
    # An empty emoji removes an earlier reaction, as in the WhatsApp apps.
    emoji: Annotated[str, Field(max_length=32)] = Field(description="Empty string removes the reaction")


class MediaMessage(_Outgoing):
    type: Literal[MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT]
    media: MediaSource
    mimetype: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    filename: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    caption: Annotated[str, Field(max_length=MAX_CAPTION)] | None = None


class LocationMessage(_Outgoing):
    type: Literal[MessageType.LOCATION]
    latitude: Annotated[float, Between(-90, 90)]
    longitude: Annotated[float, Between(-180, 180)]
    name: Annotated[str, Field(max_length=1000)] | None = None
    address: Annotated[str, Field(max_length=1000)] | None = None


def _message_kind(body: Any) -> str | None:
    """The union member for a body; ``type`` defaults to text (the WebSocket ``send`` frame has none)."""
    kind = body.get("type", MessageType.TEXT) if isinstance(body, dict) else getattr(body, "type", None)
    if not isinstance(kind, str):
        return None
    if kind in MEDIA_MESSAGE_TYPES:
        return "media"
    return kind if kind in MessageType.__members__.values() else None


class MessageCreate(
    RootModel[
        Annotated[
            Annotated[TextMessage, Tag("text")]
            | Annotated[ReactionMessage, Tag("reaction")]
            | Annotated[MediaMessage, Tag("media")]
            | Annotated[LocationMessage, Tag("location")],
            Discriminator(
                _message_kind,
                custom_error_type="message_type",
                custom_error_message=f"must be one of {', '.join(MessageType)}",
                custom_error_context={"field": "type"},
            ),
        ]
    ]
):
    """``POST /v1/sessions/{id}/messages``, and the message fields of the WebSocket ``send`` frame."""


OutgoingMessage = TextMessage | ReactionMessage | MediaMessage | LocationMessage


def parse_message(body: dict[str, Any]) -> OutgoingMessage:
    """The body as its message type, or a 422 naming the first bad field."""
    # skip=1: a refused member's errors start with the union tag, which is not a field.
    return parse(MessageCreate, body, skip=1).root


class MessageListQuery(PageQuery):
    cursor: OptionalQuery[MessageId] = None


class Message(Identified):
    session_id: str
    to: str
    type: MessageType
    status: MessageStatus
    whatsapp_id: str | None
    error: str | None
    created_at: Timestamp

    @classmethod
    def of(cls, message: models.OutboundMessage) -> Self:
        return cls(
            id=message.id,
            session_id=message.session_id,
            to=message.to,
            type=MessageType(message.type),
            status=MessageStatus(message.status),
            whatsapp_id=message.whatsapp_id,
            error=message.error,
            created_at=message.created_at,
        )
