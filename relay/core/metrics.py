"""Prometheus series. Defined once here so the web, worker and webhooks share names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter("relay_events_published_total", "Events written to the ledger", ["type"])
SESSIONS_BY_STATUS = Gauge(
    "relay_sessions", "Sessions by status (read from the database at scrape time)", ["status"]
)
SESSIONS_UNPLACED = Gauge(
    "relay_sessions_unplaced",
    "Sessions that want to run while every worker is full (read from the database at scrape time)",
)
WEBSOCKET_CONNECTIONS = Gauge("relay_websocket_connections", "Open WebSocket feed connections")
WEBHOOK_ATTEMPTS = Counter("relay_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
WEBHOOK_LATENCY = Histogram(
    "relay_webhook_first_attempt_seconds",
    "From event creation to the end of its first delivery attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
