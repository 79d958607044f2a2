"""The sandbox's phone: what a test may make it do, and what it answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, RootModel, Tag

from relay.core.schemas import Between, NullsOmitted, ResponseBody, parse
from relay.web.schemas.fields import PhoneNumber, Recipient
from relay.web.schemas.groups import Participants, Subject
from relay.web.schemas.messages import MAX_CAPTION, MAX_TEXT, _base64

MAX_INBOUND_BURST = 1000


class SandboxScan(NullsOmitted):
    phone: PhoneNumber | None = Field(default=None, description="The number the phone links as")


class SandboxText(NullsOmitted):
    type: Literal["text"] = "text"
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


# Standard base64 with its padding, as the JSON schema can state it (and the decoder then accepts).
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class SandboxMediaBytes(NullsOmitted):
    base64: Annotated[
        str,
        Field(min_length=4, pattern=BASE64_PATTERN, json_schema_extra={"contentEncoding": "base64"}),
        AfterValidator(_base64),
    ]


class SandboxMedia(NullsOmitted):
    """A contact sends a file; it reaches the media store and events as a real one does."""

    type: Literal["image", "video", "audio", "document"]
    from_: Recipient = Field(alias="from", description="Who writes")
    media: SandboxMediaBytes
    mimetype: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    filename: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    caption: Annotated[str, Field(max_length=MAX_CAPTION)] | None = None
    ptt: bool | None = Field(default=None, description="An audio recorded as a voice note")
    count: Annotated[int, Between(1, MAX_INBOUND_BURST)] = Field(
        default=1, description="A burst of this many"
    )


def _inbound_kind(body: Any) -> str | None:
    kind = body.get("type", "text") if isinstance(body, dict) else getattr(body, "type", None)
    if kind == "text":
        return "text"
    return "media" if kind in {"image", "video", "audio", "document"} else None


class SandboxInbound(
    RootModel[
        Annotated[
            Annotated[SandboxText, Tag("text")] | Annotated[SandboxMedia, Tag("media")],
            Discriminator(
                _inbound_kind,
                custom_error_type="message_type",
                custom_error_message="must be one of text, image, video, audio, document",
                custom_error_context={"field": "type"},
            ),
        ]
    ]
):
    """``POST .../sandbox/inbound``: a text (``type`` text, the default) or a media message."""


def parse_inbound(body: dict[str, Any]) -> SandboxText | SandboxMedia:
    # skip=1: a member's errors start with the union tag, which is not a field.
    return parse(SandboxInbound, body, skip=1).root


class NoBody(NullsOmitted):
    """Actions that take no fields; a body, if sent, must still be a JSON object."""


class SandboxAccepted(ResponseBody):
    """``accepted``, plus what the simulated phone reports (``phone`` and ``jid`` on a scan,
    ``whatsapp_ids`` on inbound messages, ``seen`` on seen: the read receipts, presence and
    messages the session's contacts saw, oldest first, each ``{kind, chat, ...}``)."""

    model_config = ConfigDict(extra="allow")

    accepted: bool
