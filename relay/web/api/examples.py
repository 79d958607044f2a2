"""An example for every body ``/openapi.json`` documents, built from the body's own schema.

A hand-written example is a second description of a shape and drifts from it;
this one is read off the declared model (its fields' ``examples`` and defaults,
enums, id patterns), with realistic values for the field names Relay uses
everywhere, and ``tests/api/test_openapi.py`` checks that each example is
accepted by the very model the route validates or answers with.
"""

from __future__ import annotations

import re
from typing import Any

ULID = "01JD6X4T5Y8ZK2M3N4P5Q6R7S8"
_ID_PATTERN = re.compile(r"^\^([a-z]+)_\[0-9A-HJKMNP-TV-Z\]\{26\}\$$")
# Which id an object's ``id`` is, by the object's schema title; ``*_id`` fields name theirs.
ID_PREFIXES = {
    "Session": "ses",
    "Tenant": "ten",
    "TenantWithUsage": "ten",
    "ApiKey": "key",
    "ApiKeyCreated": "key",
    "Message": "msg",
    "Event": "evt",
    "WebhookEndpoint": "whk",
    "WebhookEndpointWithSecret": "whk",
    "Delivery": "dlv",
}
FIELD_ID_PREFIXES = {
    "session_id": "ses",
    "tenant_id": "ten",
    "endpoint_id": "whk",
    "event_id": "evt",
    "key_id": "key",
    "delivery_id": "dlv",
    "message_id": "msg",
}
# What one item of a list field is, for a realistic value.
ITEM_FIELDS = {
    "phones": "phone",
    "message_ids": "whatsapp_id",
    "session_ids": "session_id",
    "events": "event",
}
FIELD_EXAMPLES: dict[str, Any] = {
    "to": "15557654321",
    "event": "message.received",
    "name": "shop",
    "text": "hello",
    "url": "https://your-app.example/hooks/relay",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "key": "rk_2b7fQ1oW9x3Lk8dZpA6sVnE4tYcR0uHj",
    "prefix": "rk_2b7fQ1oW",
    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJrZXlfMDEifQ.c2lnbmF0dXJl",
    "qr": "2@ZbrRv1vXW5m6ZGmd,hLq3vO1sT0Jmq4Qd8v8uQm7v2z8=,e1Kq3...",
    "code": "ABCD-1234",
    "phone": "15550001111",
    "jid": "15550001111@s.whatsapp.net",
    "whatsapp_id": "3EB0C431C26A1916F4B1",
    "reason": "waiting for a scan",
    "detail": "session is stopped; sending needs it connected",
    "title": "Conflict",
    "type": "about:blank",
    "chat": "15557654321@s.whatsapp.net",
    "emoji": "👍",
    "mimetype": "image/jpeg",
    "filename": "photo.jpg",
    "caption": "our menu",
    "response_excerpt": "ok",
    "description": "orders service",
}
TIMESTAMP = "2026-11-22T10:00:00.123Z"


def example_of(schema: dict[str, Any], components: dict[str, Any], field: str | None = None) -> Any:
    """A value ``schema`` accepts; ``field`` is the property it fills, for a realistic value."""
    if "$ref" in schema:
        target = components[schema["$ref"].rpartition("/")[2]]
        return example_of({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, components, field)
    for known in ("examples", "const", "default", "enum"):
        if schema.get(known) not in (None, []):
            value = schema[known]
            return value[0] if known in ("examples", "enum") else value
    for union in ("anyOf", "oneOf"):
        if union in schema:
            branches = [branch for branch in schema[union] if branch.get("type") != "null"]
            return example_of(branches[0], components, field) if branches else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _object(schema, components)
    if kind == "array":
        item = example_of(schema.get("items", {}), components, ITEM_FIELDS.get(field or "", field))
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "string":
        return _string(schema, field)
    if kind == "integer":
        return max(schema.get("minimum", 1), 1) if field != "status_code" else 200
    if kind == "number":
        return 52.52 if field == "latitude" else 13.405 if field == "longitude" else 1.5
    if kind == "boolean":
        return True
    return {}


def _object(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    # Optional fields only when they say how they look (a request example shows what matters), or the
    # first two of a body that has only optional ones (a PATCH).
    shown = {name for name in properties if name in required or "examples" in str(properties[name])}
    shown = shown or set(list(properties)[:2])
    example: dict[str, Any] = {}
    for name, property_schema in properties.items():
        if name in shown:
            if name == "id" and schema.get("title") in ID_PREFIXES:
                example[name] = f"{ID_PREFIXES[schema['title']]}_{ULID}"
            else:
                example[name] = example_of(property_schema, components, name)
    return example


def _string(schema: dict[str, Any], field: str | None) -> str:
    pattern = _ID_PATTERN.match(schema.get("pattern", ""))
    if pattern:
        return f"{pattern.group(1)}_{ULID}"
    if field in FIELD_ID_PREFIXES:
        return f"{FIELD_ID_PREFIXES[field]}_{ULID}"
    if schema.get("format") == "date-time":
        return TIMESTAMP
    if schema.get("format") == "uri":
        return str(FIELD_EXAMPLES["url"])
    if field in FIELD_EXAMPLES:
        return str(FIELD_EXAMPLES[field])
    return field or "text"
