"""Request validation and response shapes for webhook endpoints and deliveries.

Every refusal is a 422 naming the field, so an integrator sees what to fix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from relay.core.enums import EventType
from relay.core.problems import invalid
from relay.core.times import isoformat
from webhooks.constants import DESCRIPTION_MAX_LENGTH, EVENT_FILTER_MAX, SESSION_FILTER_MAX
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.url_guard import UnsafeURL, check_webhook_url

ENDPOINT_FIELDS = {"url", "events", "session_ids", "description", "enabled"}
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


def _time(moment: datetime | None) -> str | None:
    return isoformat(moment) if moment is not None else None


def endpoint_json(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "session_ids": endpoint.session_ids,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": _time(endpoint.created_at),
        "updated_at": _time(endpoint.updated_at),
        "last_success_at": _time(endpoint.last_success_at),
        "failing_since": _time(endpoint.failing_since),
    }
    if with_secret:
        shaped["secret"] = endpoint.secret
        shaped["previous_secret_expires_at"] = _time(endpoint.previous_secret_expires_at)
    return shaped


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "endpoint_id": delivery.endpoint_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _time(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "last_status_code": delivery.last_status_code,
        "attempt_log": delivery.attempt_log,
        "created_at": _time(delivery.created_at),
        "updated_at": _time(delivery.updated_at),
    }


async def valid_url(value: Any, *, allow_private: bool) -> str:
    if not isinstance(value, str) or not value:
        raise invalid("url", "must be a non-empty string")
    try:
        await check_webhook_url(value, allow_private=allow_private)
    except UnsafeURL as exc:
        raise invalid("url", str(exc)) from exc
    return value


def valid_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise invalid("events", 'must be a non-empty list: ["*"] or event types')
    if len(value) > EVENT_FILTER_MAX:
        raise invalid("events", f"must list at most {EVENT_FILTER_MAX} types")
    for item in value:
        if item != "*" and item not in EventType.__members__.values():
            raise invalid("events", f"unknown event type {item!r}")
    return ["*"] if "*" in value else list(dict.fromkeys(value))


def valid_session_ids(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise invalid("session_ids", "must be a list of session ids or null")
    if len(value) > SESSION_FILTER_MAX:
        raise invalid("session_ids", f"must list at most {SESSION_FILTER_MAX} sessions")
    return list(dict.fromkeys(value)) or None


def valid_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX_LENGTH:
        raise invalid("description", f"must be a string of at most {DESCRIPTION_MAX_LENGTH} characters")
    return value


def valid_enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid("enabled", "must be true or false")
    return value


async def endpoint_changes(body: dict[str, Any], *, allow_private: bool, creating: bool) -> dict[str, Any]:
    """The validated fields of a create (url required) or a partial update."""
    unknown = sorted(set(body) - ENDPOINT_FIELDS)
    if unknown:
        raise invalid(unknown[0], "is not a webhook endpoint field")
    if creating and "url" not in body:
        raise invalid("url", "is required")
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = await valid_url(body["url"], allow_private=allow_private)
    if "events" in body or creating:
        changes["events"] = valid_events(body.get("events", ["*"]))
    if "session_ids" in body:
        changes["session_ids"] = valid_session_ids(body["session_ids"])
    if "description" in body:
        changes["description"] = valid_description(body["description"])
    if "enabled" in body:
        changes["enabled"] = valid_enabled(body["enabled"])
    return changes


def valid_status_filter(value: str | None) -> str | None:
    if value is not None and value not in DELIVERY_STATUSES:
        raise invalid("status", f"must be one of {', '.join(DELIVERY_STATUSES)}")
    return value


def valid_moment(body: dict[str, Any], name: str, *, required: bool) -> datetime | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(name, "is required (an ISO 8601 time)")
        return None
    if not isinstance(value, str):
        raise invalid(name, "must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(name, "must be an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise invalid(name, "must carry a timezone (e.g. a trailing Z)")
    return moment
