"""Prometheus series. Defined once here so the web, worker and webhooks share names.

Each process counts what it does itself (a worker its webhook attempts, sessions and engine
hosts, the web its sockets) and serves them on its own ``/metrics``; Prometheus sums them
across instances. Figures that only the database or Redis knows for the whole cluster are
read by the web process at scrape time (``relay.web.services.cluster_metrics``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram

from relay.core.enums import EventType, SessionStatus

T = TypeVar("T")

EVENTS_PUBLISHED = Counter("relay_events_published_total", "Events written to the ledger", ["type"])
WEBSOCKET_CONNECTIONS = Gauge("relay_ws_connections", "Open WebSocket feed connections in this web process")
WS_SLOW_CONSUMER_CLOSES = Counter(
    "relay_ws_slow_consumer_closes_total",
    "Feed sockets closed with 1013 because the client read too slowly (buffer full or write timed out)",
)
WEBHOOK_ATTEMPTS = Counter("relay_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
WEBHOOK_LATENCY = Histogram(
    "relay_webhook_first_attempt_seconds",
    "From event creation to the end of its first delivery attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "relay_webhook_attempt_seconds",
    "How long one webhook POST took, from connect to the receiver's answer (or the timeout)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COMMAND_SECONDS = Histogram(
    "relay_command_seconds",
    "How long a session's owner took to apply a command from the API (send, pair code, ...)",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MESSAGES = Counter(
    "relay_messages_total",
    "WhatsApp messages processed: inbound received, outbound sent",
    ["direction"],
)
SESSION_LINKS = Counter(
    "relay_session_links_total",
    "Attempts to link a phone: scanned (QR or pairing code used) or expired/failed",
    ["outcome"],
)

# Which published events are messages, and which way they went.
_MESSAGE_DIRECTIONS: dict[str, str] = {
    EventType.MESSAGE_RECEIVED: "inbound",
    EventType.MESSAGE_SENT: "outbound",
}
_LINKING = frozenset({SessionStatus.QR, SessionStatus.PAIRING})
# The engines' reason for a link window that ran out (workers.engines.base.QR_TIMEOUT_REASON).
_EXPIRED_REASON_PREFIX = "qr_timeout"


def count_published(event_type: str, count: int) -> None:
    """Count ``count`` events of one type just written to the ledger."""
    EVENTS_PUBLISHED.labels(type=event_type).inc(count)
    direction = _MESSAGE_DIRECTIONS.get(event_type)
    if direction is not None:
        MESSAGES.labels(direction=direction).inc(count)


def link_outcome(previous: str, status: str, reason: str | None) -> str | None:
    """What a status change says about a link attempt: ``scanned``, ``expired``, ``failed`` or nothing.

    A session leaves ``qr``/``pairing`` either because the phone linked (``connected``) or because
    the window ran out or the attempt broke; any other change (a stop asked through the API, a
    reconnect of a linked session) is no link outcome.
    """
    if previous not in _LINKING or status in _LINKING:
        return None
    if status == SessionStatus.CONNECTED:
        return "scanned"
    if reason is not None and reason.startswith(_EXPIRED_REASON_PREFIX):
        return "expired"
    if status in {SessionStatus.FAILED, SessionStatus.LOGGED_OUT, SessionStatus.RECONNECTING}:
        return "failed"
    return None


def count_status_change(previous: str, status: str, reason: str | None) -> None:
    """Count a session's status change in ``relay_session_links_total`` when it ends a link attempt."""
    outcome = link_outcome(previous, status, reason)
    if outcome is not None:
        SESSION_LINKS.labels(outcome=outcome).inc()


async def timed_command(kind: str, applying: Awaitable[T]) -> T:
    """Await ``applying`` (a command being applied) and observe how long it took under ``kind``."""
    started = time.perf_counter()
    try:
        return await applying
    finally:
        COMMAND_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
