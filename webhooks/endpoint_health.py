"""Whether an endpoint still deserves attempts: success and failure stamps, and disabling it.

A 410 disables an endpoint at once; failing without a single success for
``AUTO_DISABLE_AFTER_SECONDS`` disables it too. The stamps are written only when
they change (and a success at most every ``SUCCESS_STAMP_SECONDS``), so a busy
healthy endpoint costs no write per attempt.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.enums import EventType
from relay.core.events import publish_event
from webhooks.constants import AUTO_DISABLE_AFTER_SECONDS, SUCCESS_STAMP_SECONDS
from webhooks.endpoint_cache import EndpointCache, EndpointView
from webhooks.models import WebhookEndpoint
from webhooks.sender import AttemptResult

log = logging.getLogger("relay.webhooks")


class EndpointHealth:
    """Tracks each endpoint's attempts in this worker and disables the ones that are gone."""

    def __init__(self, redis: Redis, endpoints: EndpointCache) -> None:
        self.redis = redis
        self.endpoints = endpoints

    async def track(self, endpoint: EndpointView, result: AttemptResult) -> None:
        """410 disables at once; failing with no success for 5 days disables too."""
        if result.succeeded:
            stale = time.monotonic() - endpoint.success_stamped_at > SUCCESS_STAMP_SECONDS
            if endpoint.failing_since is not None or endpoint.marked_failing or stale:
                endpoint.failing_since, endpoint.marked_failing = None, False
                endpoint.success_stamped_at = time.monotonic()
                await WebhookEndpoint.filter(id=endpoint.id).update(
                    last_success_at=result.at, failing_since=None
                )
            return
        if result.gone:
            await self.disable(endpoint, "the receiver answered 410 Gone")
            return
        if endpoint.failing_since is None:
            if not endpoint.marked_failing:
                endpoint.marked_failing = True
                await WebhookEndpoint.filter(id=endpoint.id, failing_since__isnull=True).update(
                    failing_since=result.at
                )
            return
        if (result.at - endpoint.failing_since).total_seconds() >= AUTO_DISABLE_AFTER_SECONDS:
            await self.disable(endpoint, "failing without a single success for 5 days")

    async def disable(self, endpoint: EndpointView, reason: str) -> None:
        self.endpoints.invalidate(endpoint.id)
        endpoint.enabled = False
        await disable_endpoint(self.redis, endpoint.tenant_id, endpoint.id, reason)


class _AlreadyDisabled(Exception):
    """Someone else disabled the endpoint first: the event is rolled back with the update."""


async def disable_endpoint(redis: Redis | None, tenant_id: str, endpoint_id: str, reason: str) -> bool:
    """Disable once and tell the tenant (ledger, live feed, other webhooks).

    The update and its ``webhook.endpoint_disabled`` event commit in one transaction, so
    whoever sees the endpoint disabled also finds the event that says why.
    """
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, enabled=True)
    if endpoint is None:
        return False

    async def disable(connection: BaseDBAsyncClient) -> None:
        updated = (
            await WebhookEndpoint.filter(id=endpoint_id, enabled=True)
            .using_db(connection)
            .update(enabled=False, disabled_reason=reason)
        )
        if not updated:
            raise _AlreadyDisabled(endpoint_id)

    try:
        await publish_event(
            redis,
            tenant_id=tenant_id,
            session_id=None,
            type=EventType.WEBHOOK_ENDPOINT_DISABLED,
            data={"endpoint_id": endpoint_id, "url": endpoint.url, "reason": reason},
            also_write=disable,
        )
    except _AlreadyDisabled:
        return False
    log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
    return True
