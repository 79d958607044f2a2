"""Counts for an overview: a tenant's own, or the whole cluster's (``GET /v1/stats``, ``/metrics``).

Every figure is read from the database when asked: the rows are the one record every web
process shares. ``tenant_id=None`` counts every tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.functions import Count, Min

from relay.core.enums import DeliveryStatus, DesiredState, SessionStatus
from relay.core.models import OutboundMessage, Session
from relay.core.quotas import utc_day_start
from webhooks.models import Delivery, WebhookEndpoint


@dataclass(frozen=True, slots=True)
class PendingDeliveries:
    count: int
    oldest_created_at: datetime | None

    def oldest_age(self, now: datetime) -> float:
        """Seconds the oldest pending delivery has waited; 0 when none is pending."""
        if self.oldest_created_at is None:
            return 0.0
        oldest = self.oldest_created_at
        # Relay stores UTC; a naive value read back is UTC too.
        oldest = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
        return max(0.0, (now - oldest).total_seconds())


async def sessions_by_status(tenant_id: str | None = None) -> dict[str, int]:
    """Every status, 0 included; sessions being deleted are not counted."""
    query = Session.exclude(desired_state=DesiredState.DELETED)
    if tenant_id is not None:
        query = query.filter(tenant_id=tenant_id)
    rows = await query.annotate(count=Count("id")).group_by("status").values("status", "count")
    counted = {str(row["status"]): int(row["count"]) for row in rows}
    return {status.value: counted.get(status.value, 0) for status in SessionStatus}


async def pending_deliveries(tenant_id: str | None = None) -> PendingDeliveries:
    query = Delivery.filter(status=DeliveryStatus.PENDING)
    if tenant_id is not None:
        query = query.filter(tenant_id=tenant_id)
    rows = await query.annotate(count=Count("id"), oldest=Min("created_at")).values("count", "oldest")
    count = int(rows[0]["count"] or 0) if rows else 0
    return PendingDeliveries(count=count, oldest_created_at=_as_datetime(rows[0]["oldest"] if rows else None))


async def webhook_endpoints(tenant_id: str | None = None) -> int:
    query = WebhookEndpoint.all() if tenant_id is None else WebhookEndpoint.filter(tenant_id=tenant_id)
    return await query.count()


async def messages_sent_today(tenant_id: str | None = None) -> int:
    """Outbound messages accepted since 00:00 UTC (what ``max_messages_per_day`` counts, per tenant)."""
    query = OutboundMessage.filter(created_at__gte=utc_day_start(datetime.now(UTC)))
    if tenant_id is not None:
        query = query.filter(tenant_id=tenant_id)
    return await query.count()


def _as_datetime(value: object) -> datetime | None:
    # An aggregate skips the field's conversion: SQLite hands back the stored text, Postgres a datetime.
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
