"""``GET /v1/stats``: the counts an overview page shows, for a tenant or for the whole cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from relay.core.schemas import ResponseBody


class WebhookStats(ResponseBody):
    endpoints: int
    deliveries_pending: int = Field(description="Deliveries not yet succeeded nor given up.")
    oldest_pending_seconds: float = Field(description="How long the oldest pending one has waited; 0: none.")


class Stats(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scope": "tenant",
                    "sessions": {
                        "starting": 0, "qr": 1, "pairing": 0, "connected": 3,
                        "reconnecting": 0, "logged_out": 0, "failed": 0, "stopped": 2,
                    },
                    "messages_sent_today": 120,
                    "webhooks": {"endpoints": 2, "deliveries_pending": 4, "oldest_pending_seconds": 12.5},
                }
            ]
        }
    )  # fmt: skip

    scope: Literal["tenant", "cluster"] = Field(
        description="tenant: the caller's own (an API key or JWT); cluster: every tenant's (the admin token)."
    )
    sessions: dict[str, int] = Field(description="Sessions by status, every status listed (0 included).")
    messages_sent_today: int = Field(description="Outbound messages accepted since 00:00 UTC.")
    webhooks: WebhookStats
