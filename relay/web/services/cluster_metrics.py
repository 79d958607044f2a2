"""Cluster-wide gauges for the web's ``/metrics``, read from the database at scrape time.

A gauge kept in one process's memory would drift across web processes and restarts; the rows
are the one shared record. Each query is bounded (``METRICS_QUERY_TIMEOUT``): a database that is
slow or away leaves its series out of that scrape (Prometheus marks them stale) instead of
turning the whole scrape into an error or a wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from relay.core.constants import METRICS_QUERY_TIMEOUT, UNPLACED_REASON_PREFIX
from relay.core.enums import DesiredState
from relay.core.models import Session
from relay.web.services import stats
from relay.web.services.stats import PendingDeliveries

log = logging.getLogger("relay.web.metrics")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClusterFigures:
    """What one scrape read; ``None`` where its query failed or ran out of time."""

    sessions_by_status: dict[str, int] | None
    sessions_unplaced: int | None
    pending_deliveries: PendingDeliveries | None
    read_at: datetime


async def _sessions_unplaced() -> int:
    # The supervisors give such a session its reason (workers.placement); the row is the only shared record.
    return await Session.filter(
        desired_state=DesiredState.RUNNING, reason__startswith=UNPLACED_REASON_PREFIX
    ).count()


async def _bounded(name: str, query: Awaitable[T]) -> T | None:
    try:
        return await asyncio.wait_for(query, METRICS_QUERY_TIMEOUT)
    except Exception as exc:  # an outage of any kind: this series sits out the scrape
        log.warning("metrics: %s not read: %r", name, exc)
        return None


async def read_cluster_figures() -> ClusterFigures:
    by_status, unplaced, pending = await asyncio.gather(
        _bounded("sessions by status", stats.sessions_by_status()),
        _bounded("unplaced sessions", _sessions_unplaced()),
        _bounded("pending webhook deliveries", stats.pending_deliveries()),
    )
    return ClusterFigures(by_status, unplaced, pending, read_at=datetime.now(UTC))


class ClusterCollector(Collector):
    """The figures of one scrape as Prometheus families (registered in a registry of its own)."""

    def __init__(self, figures: ClusterFigures) -> None:
        self._figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._figures
        if figures.sessions_by_status is not None:
            sessions = GaugeMetricFamily(
                "relay_sessions", "Sessions by status, cluster-wide", labels=["status"]
            )
            for status, count in figures.sessions_by_status.items():
                sessions.add_metric([status], count)
            yield sessions
        if figures.sessions_unplaced is not None:
            yield GaugeMetricFamily(
                "relay_sessions_unplaced",
                "Sessions that want to run while every worker is full",
                figures.sessions_unplaced,
            )
        if figures.pending_deliveries is not None:
            pending = figures.pending_deliveries
            yield GaugeMetricFamily(
                "relay_webhook_deliveries_pending",
                "Webhook deliveries not yet succeeded nor given up, cluster-wide",
                pending.count,
            )
            yield GaugeMetricFamily(
                "relay_webhook_oldest_pending_seconds",
                "Age of the oldest pending webhook delivery (0 when none is pending)",
                pending.oldest_age(figures.read_at),
            )
