"""The delivery engine inside each worker: two lanes of attempts.

- The *fresh* lane pops first attempts from a Redis list the moment they are
  published (a blocking pop, no poll delay): event to first attempt takes
  milliseconds, not arq's half-second poll.
- The *retry* lane pops due retries (and whatever the sweeper recovered)
  from a sorted set. Each lane has its own slots, so thousands of due retries
  never delay a fresh first attempt.

Every popped id is claimed in the database first (a lease); the attempt
outcome is written back with the lease as a guard. A worker killed mid-flight
loses only its leases, which expire so the sweeper can hand the deliveries to
another worker: at-least-once, duplicating at most the attempts in flight.

A lane that cannot reach Redis or the database waits for it (Redis with a
capped backoff, the database through the worker's shared watch) and carries on;
ids it popped but could not claim are put back as due at once, so they do not
wait for the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.config import Settings
from relay.core.enums import DeliveryStatus, DeliveryTrigger, EventType
from relay.core.events import publish_event
from relay.core.ids import new_ulid
from relay.core.logging_setup import bind_log_context
from relay.core.metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS, WEBHOOK_LATENCY
from relay.core.times import isoformat
from webhooks import queue, store
from webhooks.constants import (
    AUTO_DISABLE_AFTER_SECONDS,
    CLAIMS_IN_FLIGHT,
    DUE_BATCH,
    DUE_POLL_SECONDS,
    ENDPOINT_BUSY_DEFER_SECONDS,
    ENDPOINT_INFLIGHT_CAP,
    ENDPOINT_WAITING_CAP,
    FRESH_BATCH,
    FRESH_CONCURRENCY,
    FULL_LANE_CHECK_SECONDS,
    LEASE_MARGIN_SECONDS,
    POP_BLOCK_SECONDS,
    RETRY_CONCURRENCY,
    SUCCESS_STAMP_SECONDS,
    UNREADABLE_SECRET_RETRY_SECONDS,
)
from webhooks.endpoint_cache import EndpointCache, EndpointView
from webhooks.endpoint_pace import EndpointPace
from webhooks.models import WebhookEndpoint
from webhooks.retry import next_retry_delay
from webhooks.sender import AttemptResult, WebhookSender
from webhooks.writer import DatabaseAvailability, OutcomeWriter

log = logging.getLogger("relay.webhooks")

# While Redis is unreachable, a lane tries again after these pauses (seconds).
REDIS_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Lane:
    name: str
    capacity: int
    batch: int
    pop: Callable[[int], Awaitable[list[str]]]
    idle_sleep: float = 0.0
    inflight: int = 0
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    # Consecutive passes that failed because Redis was unreachable (0: it answers).
    redis_failures: int = 0
    # Claimed deliveries held until their endpoint has a free slot (they use lane slots too).
    waiting: int = 0
    # Popped ids whose claim is under way, and how many claims that is.
    claiming: int = 0
    claims_in_flight: int = 0

    @property
    def free(self) -> int:
        return self.capacity - self.inflight - self.waiting - self.claiming

    def release(self) -> None:
        self.inflight -= 1
        self.slot_freed.set()


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
        self.lanes = [
            Lane("fresh", FRESH_CONCURRENCY, FRESH_BATCH, self._pop_fresh),
            Lane("retry", RETRY_CONCURRENCY, DUE_BATCH, self._pop_due, DUE_POLL_SECONDS),
        ]
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._attempts: set[asyncio.Task[None]] = set()
        self._claims: set[asyncio.Task[None]] = set()

    async def _pop_fresh(self, count: int) -> list[str]:
        return await queue.pop_fresh(self.redis, count, POP_BLOCK_SECONDS)

    async def _pop_due(self, count: int) -> list[str]:
        return await queue.pop_due(self.redis, count)

    async def start(self) -> None:
        await self.sender.start()
        self.writer.start()
        self._loops = [
            asyncio.create_task(self._run_lane(lane), name=f"webhook-lane-{lane.name}") for lane in self.lanes
        ]

    async def stop(self) -> None:
        """Stop taking work, let in-flight attempts finish, write their outcomes."""
        for task in [*self._loops, *self._claims]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._claims, return_exceptions=True)
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

    async def _run_lane(self, lane: Lane) -> None:
        while True:
            ids: list[str] = []
            try:
                free = lane.free
                if free <= 0 or lane.claims_in_flight >= CLAIMS_IN_FLIGHT:
                    lane.slot_freed.clear()
                    try:
                        async with asyncio.timeout(FULL_LANE_CHECK_SECONDS):
                            await lane.slot_freed.wait()
                    except TimeoutError:
                        # Full for a while: maybe held for an endpoint that looked fast and is not.
                        self._give_back_slow_holds()
                    continue
                ids = await lane.pop(min(free, lane.batch))
                if lane.redis_failures:
                    log.info("webhook %s lane: redis is back", lane.name)
                    lane.redis_failures = 0
                if not ids:
                    if lane.idle_sleep:
                        await asyncio.sleep(lane.idle_sleep)
                    continue
                # Claimed in the background: the lane pops the next batch while this one's claim
                # waits for the writer's next flush, so a burst is not served one batch per flush.
                unique = list(dict.fromkeys(ids))
                lane.claiming += len(unique)
                lane.claims_in_flight += 1
                task = asyncio.create_task(self._claim_and_start(unique, lane))
                self._claims.add(task)
                task.add_done_callback(self._claims.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._wait_out(lane, ids, exc)

    async def _claim_and_start(self, ids: list[str], lane: Lane) -> None:
        try:
            await self._start_attempts(ids, lane)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._wait_out(lane, ids, exc)
        finally:
            lane.claiming -= len(ids)
            lane.claims_in_flight -= 1
            lane.slot_freed.set()

    async def _wait_out(self, lane: Lane, popped: list[str], error: Exception) -> None:
        """Redis or the database hiccuped: put back what was popped, then wait for what is missing.

        What was popped is pending in the database whatever happens here: put back, it is
        claimed again as soon as the database answers; lost with Redis, the sweeper finds it.
        """
        if popped:
            try:
                await queue.schedule(self.redis, dict.fromkeys(popped, time.time()))
            except RedisError:
                pass
        if isinstance(error, RedisError):
            if not lane.redis_failures:
                log.warning("webhook %s lane: redis unavailable (%s); retrying", lane.name, error)
            delay = REDIS_RETRY_DELAYS[min(lane.redis_failures, len(REDIS_RETRY_DELAYS) - 1)]
            lane.redis_failures += 1
            await asyncio.sleep(delay)
        elif not await self.database.reachable():
            await self.database.wait_until_reachable()
        else:
            log.exception("webhook %s lane error", lane.name)
            await asyncio.sleep(0.5)

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
            await self._track_endpoint_health(endpoint, result)
        except Exception:
            log.exception("updating endpoint %s health failed", endpoint.id)

    async def _track_endpoint_health(self, endpoint: EndpointView, result: AttemptResult) -> None:
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
