"""The seam between the event pipeline and webhook delivery (the transactional outbox).

``install`` registers ``record_deliveries`` as a step of ``publish_event``: it
runs inside the ledger transaction, once per batch of events the writer
commits, so an accepted event never exists without its deliveries; the
hand-off it returns joins the batch's Redis pipeline after the commit and only
wakes the delivery workers (Redis may lose it; the sweeper finds it again in
the database).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio.client import Pipeline
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.enums import EventType
from relay.core.events import AfterCommit, configure_publishing
from webhooks.constants import FRESH_QUEUE
from webhooks.models import Delivery, WebhookEndpoint


def endpoint_matches(endpoint: WebhookEndpoint, envelope: dict[str, Any]) -> bool:
    # A test event goes to the one endpoint named in its data, whatever that endpoint's filters.
    if envelope["type"] == EventType.WEBHOOK_TEST:
        return (envelope.get("data") or {}).get("endpoint_id") == endpoint.id
    events = endpoint.events or ["*"]
    if "*" not in events and envelope["type"] not in events:
        return False
    if endpoint.session_ids:
        return envelope.get("session_id") in endpoint.session_ids
    return True


def new_delivery(envelope: dict[str, Any], endpoint_id: str, now: datetime) -> Delivery:
    return Delivery(
        id=Delivery.make_id(),
        tenant_id=envelope["tenant_id"],
        endpoint_id=endpoint_id,
        event_id=envelope["id"],
        next_attempt_at=now,
    )


def install() -> None:
    """Make every event this process publishes carry its webhook deliveries."""
    configure_publishing([record_deliveries])


async def record_deliveries(
    envelopes: Sequence[dict[str, Any]], connection: BaseDBAsyncClient
) -> AfterCommit | None:
    """One endpoint query for every tenant of the batch, one bulk insert of its deliveries."""
    tenants = {envelope["tenant_id"] for envelope in envelopes}
    endpoints: defaultdict[str, list[WebhookEndpoint]] = defaultdict(list)
    matching = WebhookEndpoint.filter(tenant_id__in=tenants, enabled=True).using_db(connection)
    for endpoint in await matching.only("id", "tenant_id", "events", "session_ids"):
        endpoints[endpoint.tenant_id].append(endpoint)
    now = datetime.now(UTC)
    deliveries = [
        new_delivery(envelope, endpoint.id, now)
        for envelope in envelopes
        for endpoint in endpoints[envelope["tenant_id"]]
        if endpoint_matches(endpoint, envelope)
    ]
    if not deliveries:
        return None
    await Delivery.bulk_create(deliveries, using_db=connection)
    delivery_ids = [delivery.id for delivery in deliveries]

    def dispatch(pipe: Pipeline) -> None:
        """Wake the workers' fresh lane (``webhooks.queue.pop_fresh``): picked up in milliseconds."""
        pipe.rpush(FRESH_QUEUE, *delivery_ids)

    return dispatch
