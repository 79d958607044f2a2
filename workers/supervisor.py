"""The session supervisor: one per worker process, started from arq's startup hook.

It claims sessions that need an owner (through ``workers.lease``), runs each
on its engine in a ``SessionRunner``, renews the leases, stops a runner the
moment its lease is lost, reads every owned session's command stream with one
blocking ``XREADGROUP``, and on shutdown releases its leases so another worker
takes over within seconds instead of waiting for the TTL.

It also owns what keeps reported events safe across outages: the worker's
``Journal``, the ``DatabaseWatch`` every task waits on while the database is
away, and the ``JournalReplayer`` that publishes what dead workers journaled.
A lease is let go only once its session's events are settled in the ledger;
a worker stopping with events still journaled keeps the lease to its TTL, so
the next worker started on the same data dir can replay them first. Neither
Redis nor the database going away stops a loop here: each waits and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from tortoise.expressions import Q

from relay.core.commands import Command
from relay.core.config import Settings
from relay.core.constants import (
    COMMAND_GROUP,
    SUPERVISOR_POLL_SECONDS,
    SUPERVISOR_WAKE_CHANNEL,
    session_commands_key,
)
from relay.core.enums import OWNED_DESIRED_STATES, SETTLED_STATUSES
from relay.core.models import Session
from relay.core.redis import connect_redis
from workers.database_watch import DatabaseWatch
from workers.journal import Journal
from workers.lease import acquire_lease, current_owners
from workers.placement import announce_room, clear_stopped_marks, live_room, mark_unplaced, withdraw_room
from workers.replay import JournalReplayer
from workers.runner import SessionRunner

log = logging.getLogger("relay.worker.supervisor")

# Sessions claimed per poll: small batches let several workers share a burst of sessions.
CLAIM_BATCH = 20
CANDIDATE_SCAN = 500
COMMAND_BLOCK_MS = 500
# How often a supervisor looks for stopped sessions still saying they wait for capacity.
CLEAR_MARKS_SECONDS = 5.0
# A stopping worker waits this long for its runners (and their events) before it gives up on them.
SHUTDOWN_WAIT_SECONDS = 15.0


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**4):04x}"


class SessionSupervisor:
    def __init__(self, settings: Settings, redis: Redis, worker_id: str | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.worker_id = worker_id or make_worker_id()
        self.runners: dict[str, SessionRunner] = {}
        self._runner_tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reader_redis = connect_redis(settings.require_redis_url(), max_connections=4)
        self._groups_created: set[str] = set()
        self.watch = DatabaseWatch()
        journal_root = settings.data_dir / "journal"
        self.journal = Journal(journal_root, self.worker_id)
        self.replayer = JournalReplayer(journal_root, self.journal.directory, redis, self.watch)
        # Said once each time this worker fills up with sessions left waiting, not on every poll.
        self._warned_full = False
        self._marks_cleared_at = 0.0

    async def start(self) -> None:
        await self.journal.open()
        # Before the first claim: a session a dead worker journaled is replayed before we own it anew.
        self.replayer.adopt()
        self._tasks = [
            asyncio.create_task(self.replayer.run(), name="supervisor-replay"),
            asyncio.create_task(self._claim_loop(), name="supervisor-claim"),
            asyncio.create_task(self._renew_loop(), name="supervisor-renew"),
            asyncio.create_task(self._command_loop(), name="supervisor-commands"),
            asyncio.create_task(self._wake_listener(), name="supervisor-wake"),
        ]
        log.info("supervisor %s started (capacity %d)", self.worker_id, self.settings.worker_capacity)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError):
            await withdraw_room(self.redis, self.worker_id)
        runners = list(self.runners.values())
        for runner in runners:
            runner.request_stop()
        tasks = list(self._runner_tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_SECONDS)
            # Still waiting for the database: their events stay journaled (see _run_runner).
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.journal.close()
        await self._reader_redis.aclose()
        log.info("supervisor %s stopped; it owned %d session(s)", self.worker_id, len(runners))

    # -- claiming ---------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        failing_since: float | None = None
        while True:
            try:
                claimed = await self.claim_available()
                await self._reconcile_desired_states()
                await self._place_the_rest()
            except RedisError as exc:
                claimed = 0
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("claims paused: redis unavailable (%s)", exc)
            except Exception:
                claimed = 0
                if await self.watch.reachable():
                    log.exception("claim loop error")
                else:
                    await self.watch.wait_until_reachable()
            else:
                if failing_since is not None:
                    log.info("claims resumed after %.1fs", time.monotonic() - failing_since)
                    failing_since = None
            if claimed >= CLAIM_BATCH:
                await asyncio.sleep(random.uniform(0.05, 0.2))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), SUPERVISOR_POLL_SECONDS)
            self._wakeup.clear()

    async def claim_available(self) -> int:
        room = self.settings.worker_capacity - len(self.runners)
        if room <= 0:
            return 0
        wants_an_owner = Q(desired_state__in=sorted(OWNED_DESIRED_STATES))
        not_settled = ~Q(status__in=sorted(SETTLED_STATUSES))
        candidates = (
            await Session.filter(wants_an_owner | not_settled)
            .exclude(id__in=[*self.runners, *self.replayer.pending_sessions])
            .order_by("updated_at")
            .limit(CANDIDATE_SCAN)
        )
        owners = await current_owners(self.redis, [s.id for s in candidates])
        free = [s for s in candidates if owners.get(s.id) is None]
        random.shuffle(free)
        claimed = 0
        for session in free[: min(room, CLAIM_BATCH)]:
            lease = await acquire_lease(self.redis, session.id, self.worker_id, self.settings.lease_ttl)
            if lease is None:
                continue
            fresh = await Session.get_or_none(id=session.id)
            if fresh is None:
                await lease.release(self.redis)
                continue
            runner = SessionRunner(
                fresh, lease, settings=self.settings, redis=self.redis, journal=self.journal, watch=self.watch
            )
            self._start_runner(runner)
            claimed += 1
        return claimed

    async def _place_the_rest(self) -> None:
        """Say how full this worker is; when it is full, tell waiting sessions whether any worker has room."""
        capacity = self.settings.worker_capacity
        room_ttl = max(3 * SUPERVISOR_POLL_SECONDS, self.settings.lease_ttl)
        owned = len(self.runners)
        await announce_room(self.redis, self.worker_id, sessions=owned, capacity=capacity, ttl=room_ttl)
        if time.monotonic() - self._marks_cleared_at >= CLEAR_MARKS_SECONDS:
            # A scan of the stopped sessions: not on every poll.
            self._marks_cleared_at = time.monotonic()
            await clear_stopped_marks(self.redis)
        if owned < capacity:
            self._warned_full = False
            return  # sessions without an owner are ours to claim on the next pass
        room = await live_room(self.redis)
        if room.free > 0:
            return  # another worker has room and claims them
        skip = {*self.runners, *self.replayer.pending_sessions}
        marked = await mark_unplaced(self.redis, room, skip=skip, lock_ttl=room_ttl)
        if marked and not self._warned_full:
            self._warned_full = True
            log.warning(
                "every worker is full (%d worker(s), %d sessions in all): sessions wait for capacity; "
                "raise RELAY_WORKER_CAPACITY or run more workers (relay up --workers N)",
                room.workers,
                room.capacity,
            )

    def _start_runner(self, runner: SessionRunner) -> None:
        self.runners[runner.session_id] = runner
        task = asyncio.create_task(self._run_runner(runner), name=f"session-{runner.session_id}")
        self._runner_tasks[runner.session_id] = task
        log.info("claimed session %s (token %d)", runner.session_id, runner.lease.token)

    async def _run_runner(self, runner: SessionRunner) -> None:
        try:
            await self._claim_pending_commands(runner)
            await runner.run()
        finally:
            # Not cancelled, run() returns only once the events are settled; cancelled (a shutdown
            # waiting for the database), they stay in the journal and the lease is kept to its TTL,
            # so no other worker makes them stale before a worker on this data dir replays them.
            unsettled = runner.handoff.unsettled
            await runner.handoff.close()
            self.runners.pop(runner.session_id, None)
            self._runner_tasks.pop(runner.session_id, None)
            if unsettled:
                log.warning("kept the lease on %s: %d event(s) still journaled", runner.session_id, unsettled)
            else:
                with contextlib.suppress(RedisError):
                    await runner.lease.release(self.redis)
                log.info("released session %s", runner.session_id)
            self._wakeup.set()

    async def _reconcile_desired_states(self) -> None:
        """Catch stop/delete requests whose command was lost, and rows that vanished."""
        if not self.runners:
            return
        rows = await Session.filter(id__in=list(self.runners)).values("id", "desired_state", "fence")
        seen = {row["id"]: row for row in rows}
        for session_id, runner in list(self.runners.items()):
            row = seen.get(session_id)
            if row is None or row["fence"] != runner.lease.token:
                runner.on_lease_lost()
            else:
                runner.notice_desired_state(row["desired_state"])

    async def _wake_listener(self) -> None:
        while True:
            pubsub = self._reader_redis.pubsub()
            try:
                await pubsub.subscribe(SUPERVISOR_WAKE_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wakeup.set()
            except RedisError:
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py 5

    # -- leases -----------------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        interval = max(self.settings.lease_ttl / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            for runner in list(self.runners.values()):
                if runner.lease_lost:
                    continue
                try:
                    renewed = await runner.lease.renew(self.redis)
                except RedisError:
                    # Redis cannot say: the lease stands until its TTL runs out without a renewal.
                    if runner.lease.expired:
                        log.warning("lease on %s expired while redis was unavailable", runner.session_id)
                        runner.on_lease_lost()
                    continue
                if not renewed:
                    log.warning("lost the lease on %s; stopping it now", runner.session_id)
                    runner.on_lease_lost()

    # -- commands ---------------------------------------------------------------------------

    async def _ensure_group(self, key: str, *, force: bool = False) -> None:
        # Group at "0": commands appended before anyone owned the session are still read.
        if key in self._groups_created and not force:
            return
        try:
            await self.redis.xgroup_create(key, COMMAND_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups_created.add(key)

    async def _claim_pending_commands(self, runner: SessionRunner) -> None:
        """Commands a dead owner read but never acknowledged become ours, in order."""
        key = session_commands_key(runner.session_id)
        await self._ensure_group(key, force=True)
        start = "0-0"
        while True:
            next_start, entries, *_ = await self.redis.xautoclaim(
                key, COMMAND_GROUP, self.worker_id, min_idle_time=0, start_id=start, count=100
            )
            for entry_id, fields in entries:
                if fields:
                    runner.commands.submit(entry_id, Command.from_fields(fields))
            start = next_start.decode() if isinstance(next_start, bytes) else next_start
            if start == "0-0" or not entries:
                return

    async def _command_loop(self) -> None:
        """One blocking read over all owned sessions' streams, dispatched to their runners."""
        while True:
            keys = {session_commands_key(sid): sid for sid in self.runners}
            if not keys:
                await asyncio.sleep(0.2)
                continue
            try:
                for key in keys:
                    await self._ensure_group(key)
                response = await self._reader_redis.xreadgroup(
                    COMMAND_GROUP,
                    self.worker_id,
                    dict.fromkeys(keys, ">"),
                    count=100,
                    block=COMMAND_BLOCK_MS,
                )
            except ResponseError as exc:
                # NOGROUP: the stream was deleted or Redis lost it; recreate on the next pass.
                log.warning("command read failed: %s", exc)
                self._groups_created.clear()
                await asyncio.sleep(0.2)
                continue
            except RedisError as exc:
                log.warning("command read failed: %s", exc)
                await asyncio.sleep(1)
                continue
            for key, entries in response or []:
                session_id = keys.get(key.decode() if isinstance(key, bytes) else key)
                runner = self.runners.get(session_id) if session_id else None
                for entry_id, fields in entries:
                    if runner is not None and fields:
                        runner.commands.submit(entry_id, Command.from_fields(fields))
