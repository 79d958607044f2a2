"""One owned session's lifecycle: drive its engine while it should run, then settle the session.

A runner exists only while its worker holds the session's lease. What it does
depends on the session's desired state when it starts:
- ``running``: run the engine (restarting it after an unexpected exit) until
  told to stop, the engine settles (logged out, failed, stopped), or the lease
  is lost; meanwhile its ``CommandDispatcher`` applies the session's commands
  and its ``SendQueue`` sends the queued messages;
- ``stopped``: record ``stopped`` (a previous owner may have died mid-way);
- ``logout``: unlink the device, erase credentials, record ``logged_out``;
- ``deleted``: erase credentials and delete the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.core.config import Settings
from relay.core.constants import session_commands_key
from relay.core.crypto import decrypt_secret
from relay.core.enums import SETTLED_STATUSES, DesiredState, MessageStatus, SessionStatus
from relay.core.logging_setup import bind_log_context
from relay.core.models import OutboundMessage, Session
from workers.command_dispatcher import CommandDispatcher
from workers.database_watch import DatabaseWatch
from workers.engines.base import Engine, EngineContext, EngineError, NotConnected, create_engine
from workers.handoff import SessionHandoff
from workers.journal import Journal
from workers.lease import Lease
from workers.media_fetch import MediaFetcher
from workers.media_reporter import MediaReporter
from workers.reporter import SessionReporter
from workers.send_queue import SendQueue

log = logging.getLogger("relay.worker.runner")

# An engine whose run() ends unexpectedly is restarted after a growing pause.
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# Commands that need the engine wait this long for it to leave "starting" (e.g. right after a
# takeover); the runner waits as long for a command being applied before it decides what is next.
ENGINE_SETTLE_TIMEOUT = 15.0


class SessionRunner:
    def __init__(
        self,
        session: Session,
        lease: Lease,
        *,
        settings: Settings,
        redis: Redis,
        journal: Journal,
        watch: DatabaseWatch,
    ) -> None:
        self.session_id = session.id
        self._session = session
        self._lease = lease
        self._settings = settings
        self._redis = redis
        self._watch = watch
        self._engine: Engine | None = None
        self._stop_requested = asyncio.Event()
        # Set once the current engine has reported a status other than "starting".
        self._engine_settled = asyncio.Event()
        # Outlives run(): the supervisor lets the lease go only once it has settled everything.
        self.handoff = SessionHandoff(
            session_id=session.id, redis=redis, journal=journal, watch=watch, on_lease_lost=self.on_lease_lost
        )
        self._reporter = SessionReporter(
            handoff=self.handoff,
            tenant_id=session.tenant_id,
            session_id=session.id,
            lease=lease,
            status=session.status,
            on_status=self._on_engine_status,
        )
        self._sends = SendQueue(session.id, self._reporter, lambda: self._engine, watch)
        self._media = MediaFetcher(
            settings=settings,
            tenant_id=session.tenant_id,
            session_id=session.id,
            reporter=self._reporter,
            engine=self.settled_engine,
            watch=watch,
        )
        self.commands = CommandDispatcher(
            session.id, redis, target=self, sends=self._sends, media=self._media
        )

    def _on_engine_status(self, status: SessionStatus) -> None:
        if status == SessionStatus.STARTING:
            self._engine_settled.clear()
        else:
            self._engine_settled.set()

    @property
    def lease(self) -> Lease:
        return self._lease

    @property
    def lease_lost(self) -> bool:
        return self._reporter.lease_lost

    @property
    def status(self) -> SessionStatus:
        """What the engine last reported (the worker's ``/metrics`` counts its sessions by it)."""
        return self._reporter.current_status

    # -- stopping ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop driving the session (stop command, desired state changed, worker shutdown)."""
        self._stop_requested.set()
        if self._engine is not None:
            asyncio.get_running_loop().create_task(self._engine.stop())

    def on_lease_lost(self) -> None:
        # Another worker may already drive the session: stop at once. What is already reported
        # stays fenced with our token, so the database alone decides whether it is still ours.
        self._reporter.lease_lost = True
        self.request_stop()

    def notice_desired_state(self, desired_state: str) -> None:
        """The supervisor read the row: a stop or delete whose command was lost still stops the runner."""
        if desired_state != DesiredState.RUNNING and self._session.desired_state == DesiredState.RUNNING:
            self.request_stop()

    # -- what the command dispatcher asks of the runner --------------------------------------

    async def follow_desired_state(self) -> None:
        await self._reload()
        if self._session.desired_state != DesiredState.RUNNING:
            self.request_stop()

    async def settled_engine(self) -> Engine:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._engine_settled.wait(), ENGINE_SETTLE_TIMEOUT)
        engine = self._engine
        if engine is None or not self._engine_settled.is_set():
            raise NotConnected("the session is starting")
        return engine

    # -- main -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Do what the desired state asks; returns once everything reported is settled in the ledger."""
        bind_log_context(tenant=self._session.tenant_id, session=self.session_id)
        self.handoff.start()
        desired = self._session.desired_state
        try:
            if desired == DesiredState.DELETED:
                await self._delete()
            elif desired == DesiredState.LOGOUT:
                await self._logout()
            elif desired == DesiredState.RUNNING:
                await self._drive()
            elif self._reporter.current_status != SessionStatus.STOPPED:
                await self._reporter.status(SessionStatus.STOPPED, "stopped on request")
        except Exception:
            log.exception("session %s: runner failed", self.session_id)
            with contextlib.suppress(Exception):
                await self._reporter.status(SessionStatus.FAILED, "internal error in the worker; see its log")
        await self._reporter.flush()

    def _context(self) -> EngineContext:
        return EngineContext(
            session_id=self._session.id,
            tenant_id=self._session.tenant_id,
            name=self._session.name,
            phone=self._session.phone,
            jid=self._session.jid,
            data_dir=self._settings.data_dir,
            settings=self._settings,
            # Read from the row, never from a command: the password stays out of Redis.
            proxy=decrypt_secret(self._session.encrypted_proxy) if self._session.encrypted_proxy else None,
        )

    async def _drive(self) -> None:
        dispatcher = asyncio.create_task(self.commands.run())
        sender = asyncio.create_task(self._sends.run())
        try:
            attempt = 0
            while not self._stop_requested.is_set():
                self._engine_settled.clear()
                reporter = MediaReporter(self._reporter, self._media)
                self._engine = create_engine(self._session.engine, self._context(), reporter)
                try:
                    await self._engine.run()
                except Exception as exc:
                    log.exception("session %s: engine crashed", self.session_id)
                    await self._reporter.status(SessionStatus.RECONNECTING, f"engine error: {exc}")
                else:
                    await self.commands.wait_idle(ENGINE_SETTLE_TIMEOUT)
                    if self._stop_requested.is_set():
                        break
                    if self._reporter.current_status in SETTLED_STATUSES:
                        await self._settle_desired_state()
                        return
                # Fresh credentials for the next attempt (a scan may have linked it).
                await self._reload()
                delay = RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)]
                attempt += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), delay)
            await self._after_stop()
        finally:
            await self.commands.wait_idle(ENGINE_SETTLE_TIMEOUT)
            for task in (dispatcher, sender):
                task.cancel()
            await asyncio.gather(dispatcher, sender, return_exceptions=True)
            await self._media.close()
            if self._engine is not None:
                with contextlib.suppress(Exception):
                    await self._engine.stop()

    async def _reload(self) -> None:
        fresh = await self._watch.call(lambda: Session.get_or_none(id=self.session_id))
        if fresh is not None:
            self._session = fresh

    async def _settle_desired_state(self) -> None:
        """The engine ended for good (logged out, failed, QR window closed): stop wanting it to run."""
        await self._reporter.flush()
        await self._watch.call(
            lambda: Session.filter(
                id=self.session_id, fence=self._lease.token, desired_state=DesiredState.RUNNING
            ).update(desired_state=DesiredState.STOPPED)
        )

    async def _after_stop(self) -> None:
        if self._reporter.lease_lost:
            return
        await self._reload()
        desired = self._session.desired_state
        if desired == DesiredState.LOGOUT:
            await self._logout()
        elif desired == DesiredState.DELETED:
            await self._delete()
        elif desired == DesiredState.STOPPED:
            await self._reporter.status(SessionStatus.STOPPED, "stopped on request")
        else:
            # Worker shutdown: another worker resumes the session; say so instead of looking alive.
            await self._reporter.status(
                SessionStatus.RECONNECTING, "worker stopped; another worker resumes the session"
            )

    async def _logout(self) -> None:
        """Unlink and erase credentials; without a live engine (nobody ran it) a fresh one does it."""
        engine = self._engine or create_engine(self._session.engine, self._context(), self._reporter)
        with contextlib.suppress(EngineError):
            await engine.logout()
        await engine.erase_credentials()
        if self._reporter.current_status != SessionStatus.LOGGED_OUT:
            await self._reporter.status(SessionStatus.LOGGED_OUT, "logged out through the API")
        await self._settle_logout()

    async def _settle_logout(self) -> None:
        await self._reporter.flush()
        await self._watch.call(
            lambda: Session.filter(
                id=self.session_id, fence=self._lease.token, desired_state=DesiredState.LOGOUT
            ).update(desired_state=DesiredState.STOPPED, phone=None, jid=None)
        )

    async def _delete(self) -> None:
        engine = create_engine(self._session.engine, self._context(), self._reporter)
        await engine.erase_credentials()
        # What was reported before the delete reaches the ledger while the row still exists.
        await self._reporter.flush()
        deleted = await self._watch.call(
            lambda: Session.filter(id=self.session_id, fence=self._lease.token).delete()
        )
        if deleted:
            await self._watch.call(
                lambda: OutboundMessage.filter(
                    session_id=self.session_id, status=MessageStatus.QUEUED
                ).update(status=MessageStatus.FAILED, error="session deleted")
            )
            with contextlib.suppress(RedisError):
                await self._redis.delete(session_commands_key(self.session_id))
