"""An overview's counts for whoever asks: a tenant sees its own, the admin the cluster's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from relay.web.api.operations import Access, Call, Routes
from relay.web.schemas.stats import Stats, WebhookStats
from relay.web.services import stats as service

routes = Routes(tag="stats", access=Access.ANY_TOKEN)


@routes.add(
    "GET",
    "/v1/stats",
    "Counts for an overview: the caller's tenant, or every tenant's for the admin",
    returns=Stats,
)
async def get_stats(call: Call[None]) -> Stats:
    tenant_id = call.caller.tenant_id  # None for the admin: every tenant
    sessions, pending, endpoints, sent_today = await asyncio.gather(
        service.sessions_by_status(tenant_id),
        service.pending_deliveries(tenant_id),
        service.webhook_endpoints(tenant_id),
        service.messages_sent_today(tenant_id),
    )
    return Stats(
        scope="cluster" if tenant_id is None else "tenant",
        sessions=sessions,
        messages_sent_today=sent_today,
        webhooks=WebhookStats(
            endpoints=endpoints,
            deliveries_pending=pending.count,
            oldest_pending_seconds=pending.oldest_age(datetime.now(UTC)),
        ),
    )
