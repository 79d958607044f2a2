"""The JSON shapes of the API (SPEC "Shapes"): fields may be added, never renamed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from relay.core.models import ApiKey, OutboundMessage, Session, Tenant
from relay.core.times import isoformat


def _time(moment: datetime | None) -> str | None:
    return isoformat(moment) if moment is not None else None


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {"id": tenant.id, "name": tenant.name, "created_at": _time(tenant.created_at)}


def api_key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "created_at": _time(key.created_at),
        "last_used_at": _time(key.last_used_at),
    }


def session_json(session: Session) -> dict[str, Any]:
    return {
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


def message_json(message: OutboundMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "session_id": message.session_id,
        "to": message.to,
        "type": message.type,
        "status": message.status,
        "whatsapp_id": message.whatsapp_id,
        "error": message.error,
        "created_at": _time(message.created_at),
    }
