"""How every process logs: one format for Relay's lines and uvicorn's, text or JSON, with context.

``RELAY_LOG_FORMAT=json`` writes one JSON object a line to stderr (stdout is an engine host's
pipe to its worker), with ``timestamp``, ``level``, ``logger``, ``message`` and, where the line
was written on behalf of one, ``tenant_id``, ``session_id``, ``request_id`` and ``delivery_id``.
Those come from context variables (``bind_log_context``): set once where a request, a session's
task or a delivery attempt starts, they follow every ``await`` and every task started from there,
so no call site passes them along.

Secrets stay out at every level: a query string's credentials (the feed's ``?token=``, which
uvicorn's access log would print) are masked before any handler sees the line.
"""

from __future__ import annotations

import logging
import logging.config
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from relay.core.enums import LogFormat

TEXT_FORMAT = "%(asctime)s %(levelname)-5s %(name)s %(message)s"

tenant_id: ContextVar[str | None] = ContextVar("relay_log_tenant_id", default=None)
session_id: ContextVar[str | None] = ContextVar("relay_log_session_id", default=None)
request_id: ContextVar[str | None] = ContextVar("relay_log_request_id", default=None)
delivery_id: ContextVar[str | None] = ContextVar("relay_log_delivery_id", default=None)
CONTEXT_FIELDS: dict[str, ContextVar[str | None]] = {
    "tenant_id": tenant_id,
    "session_id": session_id,
    "request_id": request_id,
    "delivery_id": delivery_id,
}

# A credential in a URL's query string: ?token=..., &access_token=..., &api_key=..., &secret=...
_QUERY_SECRET = re.compile(
    r"([?&](?:token|access_token|api_key|apikey|key|secret|password)=)[^&\s\"']+", re.I
)
REDACTED = "redacted"  # the word relay.web.ws.endpoint puts in the handshake's own query


def bind_log_context(
    *,
    tenant: str | None = None,
    session: str | None = None,
    request: str | None = None,
    delivery: str | None = None,
) -> None:
    """Name what the current task works for; its log lines (and its child tasks') carry it."""
    for variable, value in (
        (tenant_id, tenant),
        (session_id, session),
        (request_id, request),
        (delivery_id, delivery),
    ):
        if value is not None:
            variable.set(value)


class ContextFilter(logging.Filter):
    """Puts the context variables on each record, and masks query-string credentials in its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in CONTEXT_FIELDS.items():
            if getattr(record, name, None) is None:
                setattr(record, name, variable.get())
        message = record.getMessage()
        masked = _QUERY_SECRET.sub(rf"\1{REDACTED}", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line; fields that are unknown for a line are left out rather than null."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """A ``dictConfig`` for the root logger; uvicorn gets the same one (``log_config``) so its lines match."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == LogFormat.JSON else {"format": TEXT_FORMAT}
    )
    quiet = level.lower() != "debug"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"relay": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "relay",
                "filters": ["context"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own handlers would print its lines in its own format: send them to the root.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            # arq logs every job, including the webhook sweeper's every few seconds.
            **({"arq.worker": {"level": "WARNING"}} if quiet else {}),
            # asyncpg's pool logs a traceback every second while Postgres is away; the worker's
            # database watch says it once, and again when the database is back.
            **({"asyncpg.pool": {"level": "ERROR"}} if quiet else {}),
        },
    }


def configure_logging(level: str, log_format: LogFormat = LogFormat.TEXT) -> None:
    # dictConfig replaces the root's handlers: importing neonize calls logging.basicConfig itself.
    logging.config.dictConfig(logging_config(level, log_format))
