"""JSON Schemas (OpenAPI 3.1 components) for the shapes in SPEC "Shapes".

Kept apart from the operations in ``relay.web.api.openapi`` so either can be read
on one screen.
"""

from __future__ import annotations

from typing import Any

STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
TIMESTAMP = {"type": "string", "format": "date-time", "examples": ["2026-11-22T10:00:00.123Z"]}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
RECIPIENT = {
    "type": "string",
    "description": "Phone number (6-15 digits, optional leading +) or a JID "
    "ending in @s.whatsapp.net, @g.us or @lid.",
    "examples": ["+4915112345678", "120363025246125888@g.us"],
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def list_of(name: str) -> dict[str, Any]:
    return obj(
        {"data": {"type": "array", "items": ref(name)}, "next_cursor": NULLABLE_STRING},
        ("data", "next_cursor"),
    )


_MESSAGE_COMMON = {"to": RECIPIENT}

SCHEMAS: dict[str, Any] = {
    "Problem": obj(
        {
            "type": STRING,
            "title": STRING,
            "status": {"type": "integer"},
            "detail": STRING,
            "instance": STRING,
            "errors": {
                "type": "array",
                "items": obj({"field": STRING, "message": STRING}, ("field", "message")),
            },
        },
        ("type", "title", "status", "detail"),
    ),
    "Tenant": obj({"id": STRING, "name": STRING, "created_at": TIMESTAMP}),
    "TenantCreate": obj({"name": {"type": "string", "minLength": 1, "maxLength": 200}}, ("name",)),
    "ApiKey": obj(
        {
            "id": STRING,
            "prefix": STRING,
            "name": NULLABLE_STRING,
            "created_at": TIMESTAMP,
            "last_used_at": NULLABLE_TIMESTAMP,
        }
    ),
    "ApiKeyCreated": {
        "allOf": [
            ref("ApiKey"),
            obj({"key": {"type": "string", "description": "Shown once; starts with rk_."}}),
        ]
    },
    "ApiKeyCreate": obj({"name": {"type": "string", "maxLength": 200}}),
    "TokenCreate": obj({"ttl_seconds": {"type": "integer", "minimum": 1, "maximum": 86400}}),
    "Token": obj({"token": STRING, "expires_at": TIMESTAMP}, ("token", "expires_at")),
    "Session": obj(
        {
            "id": STRING,
            "name": STRING,
            "engine": {"enum": ["whatsapp", "sandbox"]},
            "status": {
                "enum": [
                    "stopped",
                    "starting",
                    "qr",
                    "pairing",
                    "connected",
                    "reconnecting",
                    "logged_out",
                    "failed",
                ]
            },
            "reason": NULLABLE_STRING,
            "desired_state": {"enum": ["running", "stopped", "logout"]},
            "phone": NULLABLE_STRING,
            "jid": NULLABLE_STRING,
            "last_error": NULLABLE_STRING,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    ),
    "SessionCreate": obj(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "engine": {"enum": ["whatsapp", "sandbox"], "default": "whatsapp"},
            "start": {"type": "boolean", "default": True},
        },
        ("name",),
    ),
    "Qr": obj({"qr": STRING, "expires_at": NULLABLE_TIMESTAMP}, ("qr", "expires_at")),
    "PairCodeRequest": obj({"phone": {"type": "string", "pattern": r"^\+?\d{6,15}$"}}, ("phone",)),
    "PairCode": obj({"code": STRING}, ("code",)),
    "Message": obj(
        {
            "id": STRING,
            "session_id": STRING,
            "to": STRING,
            "type": {"enum": ["text", "reaction", "image", "video", "audio", "document", "location"]},
            "status": {"enum": ["queued", "sent", "failed"]},
            "whatsapp_id": NULLABLE_STRING,
            "error": NULLABLE_STRING,
            "created_at": TIMESTAMP,
        }
    ),
    "TextMessage": obj(
        {
            **_MESSAGE_COMMON,
            "type": {"const": "text"},
            "text": {"type": "string", "minLength": 1, "maxLength": 65536},
            "reply_to": {"type": "string", "description": "WhatsApp id of the quoted message"},
            "link_preview": {"type": "boolean"},
        },
        ("to", "type", "text"),
    ),
    "ReactionMessage": obj(
        {
            **_MESSAGE_COMMON,
            "type": {"const": "reaction"},
            "message_id": {"type": "string", "description": "WhatsApp id of the message"},
            "emoji": {"type": "string", "description": "Empty string removes the reaction"},
        },
        ("to", "type", "message_id", "emoji"),
    ),
    "MediaMessage": obj(
        {
            **_MESSAGE_COMMON,
            "type": {"enum": ["image", "video", "audio", "document"]},
            "media": {
                "oneOf": [
                    obj({"url": {"type": "string", "format": "uri"}}, ("url",)),
                    obj({"base64": {"type": "string", "contentEncoding": "base64"}}, ("base64",)),
                ]
            },
            "mimetype": STRING,
            "filename": STRING,
            "caption": STRING,
        },
        ("to", "type", "media"),
    ),
    "LocationMessage": obj(
        {
            **_MESSAGE_COMMON,
            "type": {"const": "location"},
            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            "name": STRING,
            "address": STRING,
        },
        ("to", "type", "latitude", "longitude"),
    ),
    "MessageCreate": {
        "oneOf": [
            ref("TextMessage"),
            ref("ReactionMessage"),
            ref("MediaMessage"),
            ref("LocationMessage"),
        ]
    },
    "Event": obj(
        {
            "id": STRING,
            "type": STRING,
            "tenant_id": STRING,
            "session_id": NULLABLE_STRING,
            "created_at": TIMESTAMP,
            "data": {"type": "object"},
        },
        ("id", "type", "tenant_id", "session_id", "created_at", "data"),
    ),
    "SandboxScan": obj({"phone": {"type": "string", "pattern": r"^\+?\d{6,15}$"}}),
    "SandboxInbound": obj(
        {
            "from": RECIPIENT,
            "text": {"type": "string", "minLength": 1},
            "count": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1},
        },
        ("from", "text"),
    ),
    "SandboxAccepted": obj({"accepted": {"type": "boolean"}}, ("accepted",)),
    "WebhookEndpoint": obj(
        {
            "id": STRING,
            "url": {"type": "string", "format": "uri"},
            "events": {"type": "array", "items": STRING},
            "session_ids": {"type": ["array", "null"], "items": STRING},
            "description": NULLABLE_STRING,
            "enabled": {"type": "boolean"},
            "disabled_reason": NULLABLE_STRING,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "last_success_at": NULLABLE_TIMESTAMP,
            "failing_since": NULLABLE_TIMESTAMP,
            "secret": {"type": "string", "description": "Only on create and rotate-secret"},
        }
    ),
    "WebhookEndpointCreate": obj(
        {
            "url": {"type": "string", "format": "uri"},
            "events": {"type": "array", "items": STRING, "default": ["*"]},
            "session_ids": {"type": "array", "items": STRING},
            "description": STRING,
            "enabled": {"type": "boolean", "default": True},
        },
        ("url",),
    ),
    "WebhookEndpointUpdate": obj(
        {
            "url": {"type": "string", "format": "uri"},
            "events": {"type": "array", "items": STRING},
            "session_ids": {"type": ["array", "null"], "items": STRING},
            "description": NULLABLE_STRING,
            "enabled": {"type": "boolean"},
        }
    ),
    "WebhookReplay": obj({"since": TIMESTAMP, "until": TIMESTAMP}, ("since",)),
    "WebhookReplayed": obj(
        {"endpoint_id": STRING, "since": TIMESTAMP, "until": TIMESTAMP, "replayed": {"type": "integer"}}
    ),
    "WebhookRotate": obj({"grace_period_seconds": {"type": "integer", "minimum": 0}}),
    "WebhookTestSent": obj({"event": ref("Event"), "delivery": ref("Delivery")}),
    "Delivery": obj(
        {
            "id": STRING,
            "event_id": STRING,
            "endpoint_id": STRING,
            "status": {"enum": ["pending", "succeeded", "failed"]},
            "attempts": {"type": "integer"},
            "next_attempt_at": NULLABLE_TIMESTAMP,
            "last_status_code": {"type": ["integer", "null"]},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "attempt_log": {
                "type": "array",
                "items": obj(
                    {
                        "at": TIMESTAMP,
                        "status_code": {"type": ["integer", "null"]},
                        "duration_ms": {"type": "number"},
                        "error": NULLABLE_STRING,
                        "response_excerpt": NULLABLE_STRING,
                        "trigger": STRING,
                    }
                ),
            },
        }
    ),
    "Ready": obj({"database": STRING, "redis": STRING}),
    "Health": obj({"status": {"const": "ok"}}),
}
