"""What the webhook REST routes do: endpoints, deliveries, tests, replays, retries."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from relay.core.config import Settings
from relay.core.crypto import encrypt_secret
from relay.core.enums import DeliveryStatus, DeliveryTrigger, EventType
from relay.core.events import envelope_of, publish_event
from relay.core.ledger import event_pages
from relay.core.models import Event, Session
from relay.core.problems import Problem, invalid, not_found
from relay.core.quotas import Quota, create_within_quota
from relay.core.schemas import Event as EventShape
from relay.core.schemas import parse
from relay.core.url_guard import UnsafeURL, check_url
from webhooks import queue, schemas
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.outbox import endpoint_matches, new_delivery
from webhooks.signing import generate_secret

DISABLED_BY_TENANT = "disabled by the tenant"


async def _endpoint(tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, tenant_id=tenant_id)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


async def _check_url(settings: Settings, url: str) -> None:
    """Where the host resolves to: the one check of a URL that needs the network."""
    try:
        await check_url(url, allow_private=settings.webhook_allow_private)
    except UnsafeURL as exc:
        raise invalid("url", str(exc)) from exc


async def _check_sessions(tenant_id: str, session_ids: list[str] | None) -> None:
    """A filter may only name the tenant's own sessions (others' ids are unknown ids)."""
    if not session_ids:
        return
    rows = await Session.filter(tenant_id=tenant_id, id__in=session_ids).values_list("id", flat=True)
    known = {str(session_id) for session_id in rows}
    missing = [sid for sid in session_ids if sid not in known]
    if missing:
        raise invalid("session_ids", f"unknown session {missing[0]!r}")


async def _queue_later(redis: Redis | None, delivery_ids: list[str]) -> None:
    """Bulk work (replays, resumed deliveries) goes to the due set, behind fresh first attempts."""
    if redis is None or not delivery_ids:
        return
    try:
        now = time.time()
        await queue.schedule(redis, dict.fromkeys(delivery_ids, now))
    except RedisError:
        pass  # the sweeper will find them in the database


async def create_endpoint(
    settings: Settings, tenant_id: str, body: schemas.WebhookEndpointCreate
) -> schemas.WebhookEndpointWithSecret:
    await _check_url(settings, body.url)
    await _check_sessions(tenant_id, body.session_ids)
    secret = generate_secret()
    endpoint = await create_within_quota(
        tenant_id,
        Quota.WEBHOOKS,
        count=lambda connection: count_endpoints(tenant_id, connection),
        create=lambda connection: WebhookEndpoint.create(
            using_db=connection,
            id=WebhookEndpoint.make_id(),
            tenant_id=tenant_id,
            encrypted_secret=encrypt_secret(secret),
            url=body.url,
            events=body.events,
            session_ids=body.session_ids,
            description=body.description,
            enabled=body.enabled,
            disabled_reason=None if body.enabled else DISABLED_BY_TENANT,
        ),
    )
    return schemas.WebhookEndpointWithSecret.of(endpoint, secret)


async def count_endpoints(tenant_id: str, connection: BaseDBAsyncClient | None = None) -> int:
    """The endpoints ``max_webhooks`` counts: the tenant's own, enabled or not."""
    return await WebhookEndpoint.filter(tenant_id=tenant_id).using_db(connection).count()


async def list_endpoints(tenant_id: str, *, limit: int, cursor: str | None) -> list[schemas.WebhookEndpoint]:
    query = WebhookEndpoint.filter(tenant_id=tenant_id)
    if cursor:
        query = query.filter(id__gt=cursor)
    return [schemas.WebhookEndpoint.of(e) for e in await query.order_by("id").limit(limit)]


async def get_endpoint(tenant_id: str, endpoint_id: str) -> schemas.WebhookEndpoint:
    return schemas.WebhookEndpoint.of(await _endpoint(tenant_id, endpoint_id))


async def update_endpoint(
    settings: Settings, redis: Redis | None, tenant_id: str, endpoint_id: str, body: dict[str, Any]
) -> schemas.WebhookEndpoint:
    """``body`` is checked as a ``WebhookEndpointUpdate`` once the endpoint is known (foreign ids: 404)."""
    endpoint = await _endpoint(tenant_id, endpoint_id)
    changes: dict[str, Any] = dict(parse(schemas.WebhookEndpointUpdate, body).root)
    if "url" in changes:
        await _check_url(settings, changes["url"])
    await _check_sessions(tenant_id, changes.get("session_ids"))
    resuming = changes.get("enabled") is True and not endpoint.enabled
    if "enabled" in changes:
        if changes["enabled"]:
            changes.update(disabled_reason=None, failing_since=None)
        elif endpoint.enabled:
            changes["disabled_reason"] = DISABLED_BY_TENANT
    if changes:
        await WebhookEndpoint.filter(id=endpoint.id).update(updated_at=datetime.now(UTC), **changes)
    if resuming:
        # Deliveries paused while the endpoint was disabled go out again.
        rows = await Delivery.filter(
            endpoint_id=endpoint.id, status=DeliveryStatus.PENDING, next_attempt_at__isnull=True
        ).values_list("id", flat=True)
        paused = [str(delivery_id) for delivery_id in rows]
        await Delivery.filter(id__in=paused).update(next_attempt_at=datetime.now(UTC))
        await _queue_later(redis, paused)
    return await get_endpoint(tenant_id, endpoint_id)


async def delete_endpoint(tenant_id: str, endpoint_id: str) -> None:
    endpoint = await _endpoint(tenant_id, endpoint_id)
    async with in_transaction() as connection:
        await Delivery.filter(endpoint_id=endpoint.id).using_db(connection).delete()
        await WebhookEndpoint.filter(id=endpoint.id).using_db(connection).delete()


async def delete_tenant_webhooks(tenant_id: str, connection: BaseDBAsyncClient) -> None:
    """Part of deleting a tenant, in its transaction (pending deliveries would find no endpoint)."""
    await Delivery.filter(tenant_id=tenant_id).using_db(connection).delete()
    await WebhookEndpoint.filter(tenant_id=tenant_id).using_db(connection).delete()


async def rotate_secret(
    tenant_id: str, endpoint_id: str, body: schemas.WebhookRotate
) -> schemas.WebhookEndpointWithSecret:
    """New secret now; the old one keeps signing (second signature) for the grace period.

    The old ciphertext moves as it is: no secret is decrypted to rotate it.
    """
    grace = body.grace_period_seconds
    endpoint = await _endpoint(tenant_id, endpoint_id)
    now = datetime.now(UTC)
    secret = generate_secret()
    await WebhookEndpoint.filter(id=endpoint.id).update(
        encrypted_secret=encrypt_secret(secret),
        encrypted_previous_secret=endpoint.encrypted_secret if grace else None,
        previous_secret_expires_at=now + timedelta(seconds=grace) if grace else None,
        updated_at=now,
    )
    endpoint = await _endpoint(tenant_id, endpoint_id)
    return schemas.WebhookEndpointWithSecret.of(endpoint, secret)


async def send_test(redis: Redis | None, tenant_id: str, endpoint_id: str) -> schemas.WebhookTestSent:
    """A ``webhook.test`` event through the normal pipeline, addressed to this endpoint only."""
    endpoint = await _endpoint(tenant_id, endpoint_id)
    if not endpoint.enabled:
        raise Problem(409, "the endpoint is disabled; enable it before testing")
    envelope = await publish_event(
        redis,
        tenant_id=tenant_id,
        session_id=None,
        type=EventType.WEBHOOK_TEST,
        data={"endpoint_id": endpoint.id},
    )
    delivery = await Delivery.get(event_id=envelope["id"], endpoint_id=endpoint.id)
    return schemas.WebhookTestSent(
        event=EventShape.model_validate(envelope), delivery=schemas.Delivery.of(delivery)
    )


async def list_deliveries(
    tenant_id: str, endpoint_id: str, *, status: DeliveryStatus | None, limit: int, cursor: str | None
) -> list[schemas.Delivery]:
    endpoint = await _endpoint(tenant_id, endpoint_id)
    query = Delivery.filter(endpoint_id=endpoint.id)
    if status:
        query = query.filter(status=status)
    if cursor:
        query = query.filter(id__gt=cursor)
    return [schemas.Delivery.of(d) for d in await query.order_by("id").limit(limit)]


async def _delivery(tenant_id: str, delivery_id: str) -> Delivery:
    delivery = await Delivery.get_or_none(id=delivery_id, tenant_id=tenant_id)
    if delivery is None:
        raise not_found("delivery")
    return delivery


async def get_delivery(tenant_id: str, delivery_id: str) -> schemas.Delivery:
    return schemas.Delivery.of(await _delivery(tenant_id, delivery_id))


async def retry_delivery(redis: Redis | None, tenant_id: str, delivery_id: str) -> schemas.Delivery:
    """One manual attempt now, whatever the delivery's state (logged as ``manual``)."""
    delivery = await _delivery(tenant_id, delivery_id)
    endpoint = await WebhookEndpoint.get_or_none(id=delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise Problem(409, "the endpoint is disabled; enable it before retrying")
    now = datetime.now(UTC)
    # An attempt in flight holds a live lease; an expired lease belonged to a dead worker.
    updated = await Delivery.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now), id=delivery.id
    ).update(
        status=DeliveryStatus.PENDING,
        trigger=DeliveryTrigger.MANUAL,
        next_attempt_at=now,
        lease_owner=None,
        lease_until=None,
        updated_at=now,
    )
    if not updated:
        raise Problem(409, "an attempt for this delivery is in flight; retry when it finishes")
    await _queue_later(redis, [delivery.id])
    return await get_delivery(tenant_id, delivery_id)


async def replay(
    redis: Redis | None, tenant_id: str, endpoint_id: str, body: schemas.WebhookReplay
) -> schemas.WebhookReplayed:
    """New deliveries for exactly the ledger events in [since, until] this endpoint matches."""
    since, until = body.since, body.until or datetime.now(UTC)
    if since > until:
        raise invalid("since", "must not be after until")
    endpoint = await _endpoint(tenant_id, endpoint_id)
    if not endpoint.enabled:
        raise Problem(409, "the endpoint is disabled; enable it before replaying")
    query = Event.filter(tenant_id=tenant_id, created_at__gte=since, created_at__lte=until)
    if "*" not in (endpoint.events or ["*"]):
        query = query.filter(type__in=endpoint.events)
    if endpoint.session_ids:
        query = query.filter(session_id__in=endpoint.session_ids)
    count = 0
    async for page in event_pages(query):
        now = datetime.now(UTC)
        envelopes = [envelope_of(event) for event in page]
        deliveries = [
            new_delivery(envelope, endpoint.id, now)
            for envelope in envelopes
            if endpoint_matches(endpoint, envelope)
        ]
        if deliveries:
            await Delivery.bulk_create(deliveries)
            await _queue_later(redis, [d.id for d in deliveries])
            count += len(deliveries)
    return schemas.WebhookReplayed(endpoint_id=endpoint.id, since=since, until=until, replayed=count)
