"""What a message body may say, per type (text, reaction, media, location).

The result is the payload stored on the ``OutboundMessage`` and handed to the
engine: the validated fields of the body minus ``to`` and ``type``. Unknown
fields are dropped so an engine never sees something nobody checked.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlsplit

from relay.core.problems import invalid
from relay.web.services.validation import (
    optional_bool,
    optional_string,
    recipient,
    require_number,
    require_string,
)

MEDIA_TYPES = ("image", "video", "audio", "document")
MESSAGE_TYPES = ("text", "reaction", *MEDIA_TYPES, "location")
MAX_TEXT = 65_536
MAX_CAPTION = 4_096


def parse_message(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(to, type, payload)``; raises a 422 ``Problem`` naming the first bad field.

    ``type`` defaults to ``"text"`` so the WebSocket ``send`` frame, which
    carries no message type, goes through the same checks.
    """
    to = recipient(body.get("to"))
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        raise invalid("type", f"must be one of {', '.join(MESSAGE_TYPES)}")
    if kind == "text":
        payload = _text(body)
    elif kind == "reaction":
        payload = _reaction(body)
    elif kind == "location":
        payload = _location(body)
    else:
        payload = _media(body)
    return to, kind, {k: v for k, v in payload.items() if v is not None}


def _text(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": require_string(body, "text", max_length=MAX_TEXT),
        "reply_to": optional_string(body, "reply_to", min_length=1, max_length=128),
        "link_preview": optional_bool(body, "link_preview"),
    }


def _reaction(body: dict[str, Any]) -> dict[str, Any]:
    # An empty emoji removes an earlier reaction, as in the WhatsApp apps.
    return {
        "message_id": require_string(body, "message_id", max_length=128),
        "emoji": require_string(body, "emoji", min_length=0, max_length=32),
    }


def _location(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "latitude": require_number(body, "latitude", minimum=-90, maximum=90),
        "longitude": require_number(body, "longitude", minimum=-180, maximum=180),
        "name": optional_string(body, "name", max_length=1000),
        "address": optional_string(body, "address", max_length=1000),
    }


def _media(body: dict[str, Any]) -> dict[str, Any]:
    media = body.get("media")
    if media is None:
        raise invalid("media", "is required")
    if not isinstance(media, dict):
        raise invalid("media", "must be an object with url or base64")
    has_url, has_base64 = media.get("url") is not None, media.get("base64") is not None
    if has_url == has_base64:
        raise invalid("media", "must have exactly one of url and base64")
    if has_url:
        url = _media_url(media["url"])
        source: dict[str, Any] = {"url": url}
    else:
        source = {"base64": _media_base64(media["base64"])}
    return {
        "media": source,
        "mimetype": optional_string(body, "mimetype", min_length=1, max_length=255),
        "filename": optional_string(body, "filename", min_length=1, max_length=255),
        "caption": optional_string(body, "caption", max_length=MAX_CAPTION),
    }


def _media_url(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid("media.url", "must be a string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2048:
        raise invalid("media.url", "must be an http or https URL")
    return value


def _media_base64(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid("media.base64", "must be a non-empty string")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid("media.base64", "is not valid base64") from exc
    return value
