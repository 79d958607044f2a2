"""What the webhook REST routes do: endpoints, deliveries, tests, replays, retries."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from relay.core.config import Settings
from relay.core.enums import EventType
from relay.core.events import envelope_of, publish_event
from relay.core.ledger import event_pages
from relay.core.models import Event, Session
from relay.core.problems import Problem, invalid, not_found
from webhooks import queue, schemas
from webhooks.constants import ROTATION_GRACE_MAX_SECONDS, ROTATION_GRACE_SECONDS
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.outbox import endpoint_matches, new_delivery
from webhooks.signing import generate_secret


async def _endpoint(tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, tenant_id=tenant_id)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


async def _check_sessions(tenant_id: str, session_ids: list[str] | None) -> None:
    """A filter may only name the tenant's own sessions (others' ids are unknown ids)."""
    if not session_ids:
        return
    known = set(await Session.filter(tenant_id=tenant_id, id__in=session_ids).values_list("id", flat=True))
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


async def create_endpoint(settings: Settings, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    changes = await schemas.endpoint_changes(
        body, allow_private=settings.webhook_allow_private, creating=True
    )
    await _check_sessions(tenant_id, changes.get("session_ids"))
    enabled = changes.pop("enabled", True)
    endpoint = await WebhookEndpoint.create(
        id=WebhookEndpoint.make_id(),
        tenant_id=tenant_id,
        secret=generate_secret(),
        enabled=enabled,
        disabled_reason=None if enabled else "disabled by the tenant",
        **changes,
    )
    return schemas.endpoint_json(endpoint, with_secret=True)


async def list_endpoints(tenant_id: str, *, limit: int, cursor: str | None) -> list[dict[str, Any]]:
    query = WebhookEndpoint.filter(tenant_id=tenant_id)
    if cursor:
        query = query.filter(id__gt=cursor)
    return [schemas.endpoint_json(e) for e in await query.order_by("id").limit(limit)]


async def get_endpoint(tenant_id: str, endpoint_id: str) -> dict[str, Any]:
    return schemas.endpoint_json(await _endpoint(tenant_id, endpoint_id))


async def update_endpoint(
    settings: Settings, redis: Redis | None, tenant_id: str, endpoint_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    endpoint = await _endpoint(tenant_id, endpoint_id)
    changes = await schemas.endpoint_changes(
        body, allow_private=settings.webhook_allow_private, creating=False
    )
    await _check_sessions(tenant_id, changes.get("session_ids"))
    resuming = changes.get("enabled") is True and not endpoint.enabled
    if "enabled" in changes:
        if changes["enabled"]:
            changes.update(disabled_reason=None, failing_since=None)
        elif endpoint.enabled:
            changes["disabled_reason"] = "disabled by the tenant"
    if changes:
        await WebhookEndpoint.filter(id=endpoint.id).update(updated_at=datetime.now(UTC), **changes)
    if resuming:
        # Deliveries paused while the endpoint was disabled go out again.
        paused = await Delivery.filter(
            endpoint_id=endpoint.id, status="pending", next_attempt_at__isnull=True
        ).values_list("id", flat=True)
        await Delivery.filter(id__in=list(paused)).update(next_attempt_at=datetime.now(UTC))
        await _queue_later(redis, list(paused))
    return await get_endpoint(tenant_id, endpoint_id)


async def delete_endpoint(tenant_id: str, endpoint_id: str) -> None:
    endpoint = await _endpoint(tenant_id, endpoint_id)
    async with in_transaction() as connection:
        await Delivery.filter(endpoint_id=endpoint.id).using_db(connection).delete()
        await WebhookEndpoint.filter(id=endpoint.id).using_db(connection).delete()


async def rotate_secret(tenant_id: str, endpoint_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """New secret now; the old one keeps signing (second signature) for the grace period."""
    grace = body.get("grace_period_seconds", ROTATION_GRACE_SECONDS)
    if isinstance(grace, bool) or not isinstance(grace, int):
        raise invalid("grace_period_seconds", "must be an integer")
    if not 0 <= grace <= ROTATION_GRACE_MAX_SECONDS:
        raise invalid("grace_period_seconds", f"must be between 0 and {ROTATION_GRACE_MAX_SECONDS}")
    endpoint = await _endpoint(tenant_id, endpoint_id)
    endpoint.previous_secret = endpoint.secret if grace else None
    endpoint.previous_secret_expires_at = datetime.now(UTC) + timedelta(seconds=grace) if grace else None
    endpoint.secret = generate_secret()
    await endpoint.save()
    return schemas.endpoint_json(endpoint, with_secret=True)


async def send_test(redis: Redis | None, tenant_id: str, endpoint_id: str) -> dict[str, Any]:
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
    return {"event": envelope, "delivery": schemas.delivery_json(delivery)}


async def list_deliveries(
    tenant_id: str, endpoint_id: str, *, status: str | None, limit: int, cursor: str | None
) -> list[dict[str, Any]]:
    endpoint = await _endpoint(tenant_id, endpoint_id)
    query = Delivery.filter(endpoint_id=endpoint.id)
    if status:
        query = query.filter(status=status)
    if cursor:
        query = query.filter(id__gt=cursor)
    return [schemas.delivery_json(d) for d in await query.order_by("id").limit(limit)]


async def _delivery(tenant_id: str, delivery_id: str) -> Delivery:
    delivery = await Delivery.get_or_none(id=delivery_id, tenant_id=tenant_id)
    if delivery is None:
        raise not_found("delivery")
    return delivery


async def get_delivery(tenant_id: str, delivery_id: str) -> dict[str, Any]:
    return schemas.delivery_json(await _delivery(tenant_id, delivery_id))


async def retry_delivery(redis: Redis | None, tenant_id: str, delivery_id: str) -> dict[str, Any]:
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
        status="pending",
        trigger="manual",
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
    redis: Redis | None, tenant_id: str, endpoint_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """New deliveries for exactly the ledger events in [since, until] this endpoint matches."""
    since = schemas.valid_moment(body, "since", required=True)
    until = schemas.valid_moment(body, "until", required=False) or datetime.now(UTC)
    assert since is not None
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
    return {
        "endpoint_id": endpoint.id,
        "since": schemas._time(since),
        "until": schemas._time(until),
        "replayed": count,
    }
