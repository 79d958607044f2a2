"""Ids in paths (``/v1/sessions/{session_id}``): what each names, and what a malformed one answers.

A path id that is not well formed names nothing, so it is the same 404 as an
unknown id, answered before any query (an over-long one would otherwise fail
the column's length check); text no database can store is the 422 every other
input gets. ``/openapi.json`` documents each id's pattern from the same table.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from relay.core.problems import not_found
from relay.core.schemas import (
    ApiKeyId,
    DeliveryId,
    MediaId,
    MessageId,
    SessionId,
    TenantId,
    WebhookEndpointId,
    check_text,
    json_schema,
)
from relay.web.schemas.fields import GroupJid

# Path parameter name -> (its id type, what a 404 calls it, as the services do).
PATH_IDS: dict[str, tuple[Any, str]] = {
    "tenant_id": (TenantId, "tenant"),
    "key_id": (ApiKeyId, "API key"),
    "session_id": (SessionId, "session"),
    "message_id": (MessageId, "message"),
    "webhook_id": (WebhookEndpointId, "webhook endpoint"),
    "delivery_id": (DeliveryId, "delivery"),
    "group_jid": (GroupJid, "group"),
    "media_id": (MediaId, "media"),
}
_ADAPTERS = {name: TypeAdapter(shape) for name, (shape, _) in PATH_IDS.items()}


def path_id(name: str, value: str) -> str:
    """``value`` of the path parameter ``name``: 422 for unstorable text, 404 when it cannot be an id."""
    check_text(name, value)
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        return value
    try:
        return str(adapter.validate_python(value))
    except ValidationError:
        raise not_found(PATH_IDS[name][1]) from None


def path_parameter_schema(name: str) -> dict[str, Any]:
    """The documented schema of a path parameter: the id's pattern when it is an id."""
    if name not in PATH_IDS:
        return {"type": "string"}
    return json_schema(PATH_IDS[name][0])
