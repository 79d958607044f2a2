"""The hand-written validators and serializers Relay used before its bodies became models (commit e8c05f8).

Frozen here, trimmed to the bodies ``bench/schemas.py`` measures, so that the
baseline keeps running after the code it measures is gone. Only the webhook URL
check is simplified: the original awaited ``check_url``, which with
private addresses allowed (as here, no DNS) only parses the URL's shape.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from relay.core.enums import EventType
from relay.core.problems import invalid
from relay.core.times import isoformat
from relay.core.url_guard import UnsafeURL, parse_url
from webhooks.constants import DESCRIPTION_MAX_LENGTH, EVENT_FILTER_MAX, SESSION_FILTER_MAX

_PHONE = re.compile(r"^\+?\d{6,15}$")
_JID = re.compile(r"^[^@\s]+@(s\.whatsapp\.net|g\.us|lid)$")
ENGINES = ("whatsapp", "sandbox")
MEDIA_TYPES = ("image", "video", "audio", "document")
MESSAGE_TYPES = ("text", "reaction", *MEDIA_TYPES, "location")
ENDPOINT_FIELDS = {"url", "events", "session_ids", "description", "enabled"}


def read_json_object(raw: bytes) -> dict[str, Any]:
    body = orjson.loads(raw)
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def require_string(
    body: dict[str, Any], name: str, *, min_length: int = 1, max_length: int | None = None
) -> str:
    value = body.get(name)
    if value is None:
        raise invalid(name, "is required")
    return _check_string(name, value, min_length=min_length, max_length=max_length)


def optional_string(
    body: dict[str, Any], name: str, *, min_length: int = 0, max_length: int | None = None
) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    return _check_string(name, value, min_length=min_length, max_length=max_length)


def _check_string(name: str, value: Any, *, min_length: int, max_length: int | None) -> str:
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if len(value) < min_length:
        message = "must not be empty" if min_length == 1 else f"needs {min_length}+ characters"
        raise invalid(name, message)
    if max_length is not None and len(value) > max_length:
        raise invalid(name, f"must be at most {max_length} characters")
    return value


def optional_bool(body: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(name, "must be a boolean")
    return value


def recipient(value: Any, name: str = "to") -> str:
    if value is None:
        raise invalid(name, "is required")
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if _JID.match(value):
        return value
    if _PHONE.match(value):
        return value.removeprefix("+")
    raise invalid(name, "must be a phone number or a JID")


def session_create(raw: bytes) -> dict[str, Any]:
    body = read_json_object(raw)
    name = require_string(body, "name", max_length=200)
    engine = body.get("engine", "whatsapp")
    if engine not in ENGINES:
        raise invalid("engine", f"must be one of {', '.join(ENGINES)}")
    return {"name": name, "engine": engine, "start": optional_bool(body, "start", default=True)}


def message_create(raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """Text and media only: the two kinds the bench sends."""
    body = read_json_object(raw)
    to = recipient(body.get("to"))
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        raise invalid("type", f"must be one of {', '.join(MESSAGE_TYPES)}")
    if kind == "text":
        payload = {
            "text": require_string(body, "text", max_length=65_536),
            "reply_to": optional_string(body, "reply_to", min_length=1, max_length=128),
            "link_preview": optional_bool(body, "link_preview"),
        }
    else:
        payload = _media(body)
    return to, kind, {k: v for k, v in payload.items() if v is not None}


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
        url = media["url"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
            raise invalid("media.url", "must be an http or https URL")
        source: dict[str, Any] = {"url": url}
    else:
        value = media["base64"]
        if not isinstance(value, str) or not value:
            raise invalid("media.base64", "must be a non-empty string")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid("media.base64", "is not valid base64") from exc
        source = {"base64": value}
    return {
        "media": source,
        "mimetype": optional_string(body, "mimetype", min_length=1, max_length=255),
        "filename": optional_string(body, "filename", min_length=1, max_length=255),
        "caption": optional_string(body, "caption", max_length=4_096),
    }


def endpoint_create(raw: bytes) -> dict[str, Any]:
    body = read_json_object(raw)
    unknown = sorted(set(body) - ENDPOINT_FIELDS)
    if unknown:
        raise invalid(unknown[0], "is not a webhook endpoint field")
    if "url" not in body:
        raise invalid("url", "is required")
    url = body["url"]
    if not isinstance(url, str) or not url:
        raise invalid("url", "must be a non-empty string")
    try:
        parse_url(url)
    except UnsafeURL as exc:
        raise invalid("url", str(exc)) from exc
    changes: dict[str, Any] = {"url": url}
    events = body.get("events", ["*"])
    if not isinstance(events, list) or not events:
        raise invalid("events", 'must be a non-empty list: ["*"] or event types')
    if len(events) > EVENT_FILTER_MAX:
        raise invalid("events", f"must list at most {EVENT_FILTER_MAX} types")
    for item in events:
        if item != "*" and item not in EventType.__members__.values():
            raise invalid("events", f"unknown event type {item!r}")
    changes["events"] = ["*"] if "*" in events else list(dict.fromkeys(events))
    if "session_ids" in body:
        value = body["session_ids"]
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(i, str) and i for i in value):
                raise invalid("session_ids", "must be a list of session ids or null")
            if len(value) > SESSION_FILTER_MAX:
                raise invalid("session_ids", f"must list at most {SESSION_FILTER_MAX} sessions")
            value = list(dict.fromkeys(value)) or None
        changes["session_ids"] = value
    if "description" in body:
        value = body["description"]
        if value is not None and (not isinstance(value, str) or len(value) > DESCRIPTION_MAX_LENGTH):
            raise invalid("description", f"must be a string of at most {DESCRIPTION_MAX_LENGTH} characters")
        changes["description"] = value
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise invalid("enabled", "must be true or false")
        changes["enabled"] = body["enabled"]
    return changes


def _time(moment: datetime | None) -> str | None:
    return isoformat(moment) if moment is not None else None


def session_json(session: Any) -> bytes:
    return orjson.dumps(
        {
            "id": session.id,
            "name": session.name,
            "engine": session.engine,
            "status": session.status,
            "reason": session.reason,
            "desired_state": session.desired_state,
            "phone": session.phone,
            "jid": session.jid,
            "last_error": session.last_error,
            "created_at": _time(session.created_at),
            "updated_at": _time(session.updated_at),
        }
    )


def event_page_json(envelopes: list[dict[str, Any]], limit: int) -> bytes:
    """The envelopes come from ``relay.core.events.envelope_of``, as the ledger page built them."""
    next_cursor = envelopes[-1]["id"] if len(envelopes) == limit and envelopes else None
    return orjson.dumps({"data": envelopes, "next_cursor": next_cursor})
