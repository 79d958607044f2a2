"""The attempt side of the delivery engine: claimed deliveries → signed attempts → outcomes.

The lanes (``lanes``) pop delivery ids; here each batch is claimed in the
database first (a lease) and each claimed delivery is started, held for its
endpoint's next free slot, or given back for later. The attempt outcome is
written back with the lease as a guard. A worker killed mid-flight loses only
its leases, which expire so the sweeper can hand the deliveries to another
worker: at-least-once, duplicating at most the attempts in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from relay.core.config import Settings
from relay.core.enums import DeliveryStatus, DeliveryTrigger
from relay.core.ids import new_ulid
from relay.core.logging_setup import bind_log_context
from relay.core.metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS, WEBHOOK_LATENCY
from relay.core.times import isoformat
from webhooks import store
from webhooks.constants import (
    ENDPOINT_BUSY_DEFER_SECONDS,
    ENDPOINT_INFLIGHT_CAP,
    ENDPOINT_WAITING_CAP,
    LEASE_MARGIN_SECONDS,
    UNREADABLE_SECRET_RETRY_SECONDS,
)
from webhooks.endpoint_cache import EndpointCache, EndpointView
from webhooks.endpoint_health import EndpointHealth
from webhooks.endpoint_pace import EndpointPace
from webhooks.lanes import Lane, LaneRunner
from webhooks.retry import next_retry_delay
from webhooks.sender import AttemptResult, WebhookSender
from webhooks.writer import DatabaseAvailability, OutcomeWriter

log = logging.getLogger("relay.webhooks")


@dataclass(slots=True)
class _Waiting:
    """A claimed delivery held for its endpoint's next free slot, since ``since`` (monotonic)."""

    delivery: store.ClaimedDelivery
    endpoint: EndpointView
    body: bytes
    lane: Lane
    since: float


def judge(
    claimed: store.ClaimedDelivery, result: AttemptResult, schedule: tuple[float, ...]
) -> store.AttemptOutcome:
    """Turn one attempt into the delivery's next state (pure: no I/O)."""
    entry = {
        "at": isoformat(result.at),
        "status_code": result.status_code,
        "duration_ms": result.duration_ms,
        "error": result.error,
        "response_excerpt": result.response_excerpt,
        "trigger": claimed.trigger,
    }
    attempt_log = [*claimed.attempt_log, entry]
    next_attempt_at: datetime | None = None
    status: DeliveryStatus
    if result.succeeded:
        status = DeliveryStatus.SUCCEEDED
    elif result.gone:
        status = DeliveryStatus.FAILED
    else:
        # Manual attempts are extra: they neither use up nor extend the schedule.
        scheduled_made = sum(1 for item in attempt_log if item.get("trigger") != DeliveryTrigger.MANUAL)
        delay = next_retry_delay(schedule, scheduled_made, result.retry_after)
        if delay is None:
            status = DeliveryStatus.FAILED
        else:
            status = DeliveryStatus.PENDING
            next_attempt_at = result.at + timedelta(seconds=delay)
    return store.AttemptOutcome(
        delivery_id=claimed.id,
        lease_owner=claimed.lease_owner,
        status=status,
        attempts=claimed.attempts + 1,
        next_attempt_at=next_attempt_at,
        last_status_code=result.status_code,
        attempt_log=attempt_log,
    )


class Deliverer:
    """The delivery engine inside each worker: its lanes, its endpoints' slots and holds, its attempts."""

    def __init__(self, redis: Redis, settings: Settings, database: DatabaseAvailability) -> None:
        self.redis = redis
        self.database = database
        self.schedule = settings.webhook_retry_schedule
        self.lease_seconds = settings.webhook_timeout + LEASE_MARGIN_SECONDS
        # Lease owners name the process, so an operator (or a test) can see who holds what.
        self.lease_prefix = f"p{os.getpid()}."
        self.sender = WebhookSender(
            timeout=settings.webhook_timeout, allow_private=settings.webhook_allow_private
        )
        self.endpoints = EndpointCache()
        self.writer = OutcomeWriter(redis, self.lease_seconds, database)
        self.inflight_by_endpoint: Counter[str] = Counter()
        self.waiting_by_endpoint: defaultdict[str, deque[_Waiting]] = defaultdict(deque)
        self.pace = EndpointPace()
        self.health = EndpointHealth(redis, self.endpoints)
        self.lanes = LaneRunner(
            redis, database, start_attempts=self._start_attempts, on_full=self._give_back_slow_holds
        )
        self._stopping = False
        self._attempts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.sender.start()
        self.writer.start()
        self.lanes.start()

    async def stop(self) -> None:
        """Stop taking work, let in-flight attempts finish, write their outcomes."""
        await self.lanes.stop()
        self._stopping = True
        # Held deliveries are given back, due at once, for the next worker to attempt.
        for waiting in self.waiting_by_endpoint.values():
            for held in waiting:
                held.lane.waiting -= 1
                self._release(held.delivery, datetime.now(UTC))
        self.waiting_by_endpoint.clear()
        if self._attempts:
            await asyncio.wait(self._attempts, timeout=self.sender.timeout + 1)
        await self.writer.close()
        await self.sender.close()

    async def _start_attempts(self, ids: list[str], lane: Lane) -> None:
        claimed = await self.writer.claim(ids, f"{self.lease_prefix}{new_ulid()}")
        if not claimed:
            return
        endpoints = await self.endpoints.get_many({c.endpoint_id for c in claimed})
        bodies = await store.load_envelopes([c.event_id for c in claimed])
        now = datetime.now(UTC)
        busy: Counter[str] = Counter()
        for delivery in claimed:
            endpoint = endpoints.get(delivery.endpoint_id)
            body = bodies.get(delivery.event_id)
            if delivery.endpoint_id in self.endpoints.unreadable:
                # Its secret cannot be decrypted here: no unsigned request, no attempt spent;
                # offered again later, once the keys may have been put right.
                self._release(delivery, now + timedelta(seconds=UNREADABLE_SECRET_RETRY_SECONDS))
                continue
            if endpoint is None or not endpoint.enabled or body is None:
                # Paused until the endpoint is enabled again (or gone with it).
                self._release(delivery, None)
                continue
            first_delay = self.schedule[0] if self.schedule else 0
            if delivery.attempts == 0 and first_delay > 0:
                due = delivery.created_at + timedelta(seconds=first_delay)
                if due > now:
                    self._release(delivery, due)
                    continue
            inflight = self.inflight_by_endpoint[endpoint.id]
            if inflight >= ENDPOINT_INFLIGHT_CAP:
                waiting = self.waiting_by_endpoint[endpoint.id]
                if len(waiting) < ENDPOINT_WAITING_CAP or self.pace.worth_holding(
                    endpoint.id, inflight + len(waiting)
                ):
                    # Held here, lease and all, and started as soon as one of the endpoint's
                    # attempts ends: no write, no Redis round trip, no second claim.
                    waiting.append(_Waiting(delivery, endpoint, body, lane, time.monotonic()))
                    lane.waiting += 1
                    continue
                # Spread the overflow so it comes back about when slots free up,
                # without spending an attempt.
                busy[endpoint.id] += 1
                wait = ENDPOINT_BUSY_DEFER_SECONDS * (1 + busy[endpoint.id] // ENDPOINT_INFLIGHT_CAP)
                self._release(delivery, now + timedelta(seconds=wait))
                self._give_back_held_beyond_cap(endpoint.id, now + timedelta(seconds=wait))
                continue
            self._start(delivery, endpoint, body, lane)

    def _start(
        self, delivery: store.ClaimedDelivery, endpoint: EndpointView, body: bytes, lane: Lane
    ) -> None:
        lane.inflight += 1
        self.inflight_by_endpoint[endpoint.id] += 1
        task = asyncio.create_task(self._attempt(delivery, endpoint, body, lane))
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)

    def _start_next_waiting(self, endpoint_id: str) -> None:
        """One of the endpoint's attempts ended: start the next delivery held for it, if any.

        One held longer than half its lease goes back to the queue instead, due at once, so it
        is never attempted by a worker whose lease may run out mid-attempt.
        """
        waiting = None if self._stopping else self.waiting_by_endpoint.get(endpoint_id)
        while waiting:
            held = waiting.popleft()
            held.lane.waiting -= 1
            if time.monotonic() - held.since > self.lease_seconds / 2:
                self._release(held.delivery, datetime.now(UTC))
                continue
            self._start(held.delivery, held.endpoint, held.body, held.lane)
            break
        if waiting is not None and not waiting:
            del self.waiting_by_endpoint[endpoint_id]

    def _give_back_slow_holds(self) -> None:
        later = datetime.now(UTC) + timedelta(seconds=ENDPOINT_BUSY_DEFER_SECONDS)
        for endpoint_id, waiting in list(self.waiting_by_endpoint.items()):
            ahead = self.inflight_by_endpoint[endpoint_id] + ENDPOINT_WAITING_CAP
            if len(waiting) > ENDPOINT_WAITING_CAP and not self.pace.worth_holding(endpoint_id, ahead):
                self._give_back_held_beyond_cap(endpoint_id, later)

    def _give_back_held_beyond_cap(self, endpoint_id: str, when: datetime) -> None:
        """The endpoint turned out slow: what it holds beyond the cap goes back, so lane slots
        held for it while it looked fast are free for other endpoints again."""
        waiting = self.waiting_by_endpoint[endpoint_id]
        while len(waiting) > ENDPOINT_WAITING_CAP:
            held = waiting.pop()
            held.lane.waiting -= 1
            held.lane.slot_freed.set()
            self._release(held.delivery, when)

    def _release(self, delivery: store.ClaimedDelivery, when: datetime | None) -> None:
        self.writer.add_release(store.Release(delivery.id, delivery.lease_owner, when))

    async def _attempt(
        self, delivery: store.ClaimedDelivery, endpoint: EndpointView, body: bytes, lane: Lane
    ) -> None:
        bind_log_context(tenant=delivery.tenant_id, delivery=delivery.id)

        pace = self.pace.started(endpoint.id)
        try:
            result = await self.sender.send(endpoint.url, endpoint.signer, delivery.event_id, body)
        finally:
            self.pace.ended(endpoint.id, pace)
            lane.release()
            self.inflight_by_endpoint[endpoint.id] -= 1
            if self.inflight_by_endpoint[endpoint.id] <= 0:
                del self.inflight_by_endpoint[endpoint.id]
            self._start_next_waiting(endpoint.id)
        outcome = judge(delivery, result, self.schedule)
        self.writer.add_outcome(outcome)
        WEBHOOK_ATTEMPTS.labels(outcome="success" if result.succeeded else "failure").inc()
        WEBHOOK_ATTEMPT_SECONDS.observe(result.duration_ms / 1000)
        if delivery.attempts == 0 and delivery.trigger != DeliveryTrigger.MANUAL:
            WEBHOOK_LATENCY.observe(
                (result.at - delivery.created_at).total_seconds() + result.duration_ms / 1000
            )
        try:
            await self.health.track(endpoint, result)
        except Exception:
            log.exception("updating endpoint %s health failed", endpoint.id)
