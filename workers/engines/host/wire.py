"""What crosses the pipe between a worker and its engine hosts, and how it turns back into Python.

Requests (worker → host): ``{"type": "call", "id", "op", "session", "context", "args"}``;
the host answers each with ``{"type": "reply", "id", "ok", "result" | "error", "connected"}``.
Reports (host → worker): ``{"type": "report", "session", "seq", "method", "args", "connected"}``,
one per ``EngineReporter`` call, each answered with ``{"type": "ack", "session", "seq", "result"}``
once the worker's reporter returned (the event is in the journal).

The ``EngineContext`` crosses whole, through pydantic's validation of the dataclass, so a
field added to it (and to ``Settings``) reaches the host with no change here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from workers.engines.base import (
    ContactCheck,
    EngineContext,
    EngineError,
    GroupNotFound,
    NotConnected,
    OutgoingMessage,
    SendReceipt,
    UnsupportedCommand,
)


class Op(StrEnum):
    """What a worker asks of a host, one per ``Engine`` method (``stats`` is the host's own)."""

    RUN = "run"
    STOP = "stop"
    LOGOUT = "logout"
    ERASE = "erase"
    PAIR_PHONE = "pair_phone"
    SEND = "send"
    CHECK_CONTACTS = "check_contacts"
    MARK_READ = "mark_read"
    SEND_PRESENCE = "send_presence"
    GROUPS = "groups"
    DOWNLOAD_MEDIA = "download_media"
    SANDBOX = "sandbox"
    STATS = "stats"


class ReportMethod(StrEnum):
    """The ``EngineReporter`` methods a host forwards."""

    STATUS = "status"
    QR = "qr"
    PAIR_CODE = "pair_code"
    MESSAGE_RECEIVED = "message_received"
    MESSAGE_ACK = "message_ack"
    GROUP_EVENT = "group_event"
    SYNCED = "synced"
    FLUSH = "flush"


_CONTEXT = TypeAdapter(EngineContext)
_MESSAGE = TypeAdapter(OutgoingMessage)
_RECEIPT = TypeAdapter(SendReceipt)
_CONTACTS = TypeAdapter(list[ContactCheck])

# Errors keep their class across the pipe: the runner and the API treat them differently.
_ERRORS: dict[str, type[EngineError]] = {
    "not_connected": NotConnected,
    "unsupported": UnsupportedCommand,
    "engine_error": EngineError,
    "group_not_found": GroupNotFound,
}


def dump_context(context: EngineContext) -> dict[str, Any]:
    return dict(_CONTEXT.dump_python(context, mode="json"))


def load_context(data: Any) -> EngineContext:
    """The context a call carries; a malformed one fails without quoting it.

    pydantic's own message quotes the input, which holds the session's proxy URL (its
    password too): the error would reach the host's log and the worker as the call's error.
    """
    try:
        return _CONTEXT.validate_python(data)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'context'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise EngineError(f"the session context is malformed ({fields})") from None


def dump_message(message: OutgoingMessage) -> dict[str, Any]:
    return dict(_MESSAGE.dump_python(message, mode="json"))


def load_message(data: Any) -> OutgoingMessage:
    return _MESSAGE.validate_python(data)


def dump_receipt(receipt: SendReceipt) -> dict[str, Any]:
    return dict(_RECEIPT.dump_python(receipt, mode="json"))


def load_receipt(data: Any) -> SendReceipt:
    return _RECEIPT.validate_python(data)


def dump_contacts(checks: list[ContactCheck]) -> list[dict[str, Any]]:
    return list(_CONTACTS.dump_python(checks, mode="json"))


def load_contacts(data: Any) -> list[ContactCheck]:
    return _CONTACTS.validate_python(data)


def dump_error(exc: BaseException) -> dict[str, str]:
    """An exception raised in the host, as the worker will raise it again."""
    for kind, cls in _ERRORS.items():
        if type(exc) is cls:
            return {"kind": kind, "message": str(exc)}
    if isinstance(exc, EngineError):
        return {"kind": "engine_error", "message": str(exc)}
    return {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"}


def load_error(error: dict[str, str]) -> EngineError:
    cls = _ERRORS.get(error.get("kind", ""), EngineError)
    return cls(error.get("message", "the engine host failed"))


def dump_datetime(value: datetime) -> str:
    return value.isoformat()


def load_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)
