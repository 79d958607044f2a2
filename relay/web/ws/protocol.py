"""The feed's wire format: parse client frames, build server frames.

Kept apart from the connection logic so the contract (SPEC, "WebSocket feed")
can be read in one place and every malformed frame maps to one short error
string the client can show; a bad frame never closes the socket.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from relay.core.constants import WS_MAX_FRAME_BYTES
from relay.core.schemas import RelayId, load_json, unsafe_text

ALL_SESSIONS = "*"
# Ids the frames carry, checked before any query: anything else cannot name a session or a ledger cursor.
EVENT_ID = re.compile(RelayId("evt", "an event").pattern)
SESSION_ID = re.compile(RelayId("ses", "a session").pattern)
# Fields of a ``send`` frame that belong to the frame, not to the message body.
SEND_FRAME_FIELDS = frozenset({"type", "request_id", "session_id", "idempotency_key", "message_type"})


class ProtocolError(ValueError):
    """A client frame the server cannot act on; its text goes back in an ``error`` frame."""


@dataclass(frozen=True, slots=True)
class Auth:
    token: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    session_id: str
    since: str | None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    session_id: str


@dataclass(frozen=True, slots=True)
class Send:
    request_id: str | int
    session_id: str
    # The same body ``POST /v1/sessions/{id}/messages`` takes.
    body: dict[str, Any]
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Frame = Auth | Subscribe | Unsubscribe | Send | Ping


def parse_frame(raw: str | bytes | None) -> Frame:
    """One client frame, validated; raises ``ProtocolError`` with a client-facing message."""
    if raw is None or isinstance(raw, bytes):
        raise ProtocolError("frames must be JSON text")
    if len(raw) > WS_MAX_FRAME_BYTES:
        raise ProtocolError(f"frame is larger than {WS_MAX_FRAME_BYTES} bytes")
    try:
        frame = load_json(raw)
    except ValueError:
        raise ProtocolError("invalid JSON") from None
    if not isinstance(frame, dict):
        raise ProtocolError("a frame must be a JSON object")
    # The same rule as REST bodies: no NUL or lone surrogate anywhere, named like a 422 field.
    flaws = unsafe_text(frame)
    if flaws:
        raise ProtocolError(f"{flaws[0].field}: {flaws[0].message}")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("missing field: type")
    if kind == "ping":
        return Ping()
    if kind == "auth":
        return Auth(token=_required_text(frame, "token"))
    if kind == "subscribe":
        since = frame.get("since")
        if since is not None and (not isinstance(since, str) or not EVENT_ID.match(since)):
            raise ProtocolError("since must be an event id (evt_...)")
        return Subscribe(session_id=_topic(frame), since=since)
    if kind == "unsubscribe":
        return Unsubscribe(session_id=_required_text(frame, "session_id"))
    if kind == "send":
        return _parse_send(frame)
    raise ProtocolError(f"unknown frame type: {kind}")


def _parse_send(frame: dict[str, Any]) -> Send:
    request_id = frame.get("request_id")
    # Without a request id the result could not be matched to its request.
    if isinstance(request_id, bool) or not isinstance(request_id, str | int) or request_id == "":
        raise ProtocolError("missing field: request_id")
    session_id = _required_text(frame, "session_id")
    if session_id == ALL_SESSIONS:
        raise ProtocolError("send needs one session_id, not *")
    idempotency_key = frame.get("idempotency_key")
    if idempotency_key is not None and not isinstance(idempotency_key, str):
        raise ProtocolError("idempotency_key must be a string")
    body = {key: value for key, value in frame.items() if key not in SEND_FRAME_FIELDS}
    # The frame's own "type" is "send", so the message type travels as message_type.
    body["type"] = frame.get("message_type", "text")
    return Send(
        request_id=request_id,
        session_id=session_id,
        body=body,
        idempotency_key=idempotency_key,
    )


def _topic(frame: dict[str, Any]) -> str:
    """What a subscription follows: one session id, or ``*`` for all of the tenant's sessions.

    A malformed id names no session: the same answer as an unknown one, before any query.
    """
    session_id = _required_text(frame, "session_id")
    if session_id != ALL_SESSIONS and not SESSION_ID.match(session_id):
        raise ProtocolError("session not found")
    return session_id


def _required_text(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"missing field: {name}")
    return value


def _dump(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def event_frame(envelope_json: bytes) -> str:
    """Wrap an already-serialized envelope, so fan-out serializes each event once, not per socket."""
    return '{"type":"event","event":' + envelope_json.decode() + "}"


def auth_required() -> str:
    return _dump({"type": "auth_required"})


def ready(tenant_id: str) -> str:
    return _dump({"type": "ready", "tenant_id": tenant_id})


def subscribed(session_id: str) -> str:
    return _dump({"type": "subscribed", "session_id": session_id})


def unsubscribed(session_id: str) -> str:
    return _dump({"type": "unsubscribed", "session_id": session_id})


def pong() -> str:
    return _dump({"type": "pong"})


def error(message: str) -> str:
    return _dump({"type": "error", "error": message})


def result_ok(request_id: str | int, data: dict[str, Any]) -> str:
    return _dump({"type": "result", "request_id": request_id, "ok": True, "data": data})


def result_error(request_id: str | int, message: str, problem: Mapping[str, Any] | None = None) -> str:
    """A failed ``send``; ``problem`` is the problem+json body REST would answer, when there is one.

    Clients act on it as on the REST answer (a 429 ``quota-exceeded`` names its quota and
    limit); ``error`` stays the short text for clients that only show it.
    """
    frame: dict[str, Any] = {"type": "result", "request_id": request_id, "ok": False, "error": message}
    if problem is not None:
        frame["problem"] = dict(problem)
    return _dump(frame)
