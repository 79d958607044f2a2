"""One owned session: drive its engine, apply its commands, send its queued messages.

A runner exists only while its worker holds the session's lease. What it does
depends on the session's desired state when it starts:
- ``running``: run the engine (restarting it after an unexpected exit) until
  told to stop, the engine settles (logged out, failed, stopped), or the lease is lost;
- ``stopped``: record ``stopped`` (a previous owner may have died mid-way);
- ``logout``: unlink the device, erase credentials, record ``logged_out``;
- ``deleted``: erase credentials and delete the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.commands import Command, CommandResult, post_result
from relay.core.config import Settings
from relay.core.constants import COMMAND_GROUP, session_commands_key
from relay.core.enums import (
    SETTLED_STATUSES,
    CommandKind,
    DesiredState,
    EventType,
    MessageStatus,
    SessionStatus,
)
from relay.core.models import OutboundMessage, Session
from relay.core.times import isoformat
from workers.engines.base import (
    SANDBOX_COMMAND_PREFIX,
    Engine,
    EngineContext,
    EngineError,
    NotConnected,
    OutgoingMessage,
    create_engine,
    sandbox_action,
)
from workers.lease import Lease
from workers.reporter import SessionReporter

log = logging.getLogger("relay.worker.runner")

# An engine whose run() ends unexpectedly is restarted after a growing pause.
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# Commands that need the engine wait this long for it to leave "starting" (e.g. right after a takeover).
ENGINE_SETTLE_TIMEOUT = 15.0


class SessionRunner:
    def __init__(self, session: Session, lease: Lease, *, settings: Settings, redis: Redis) -> None:
        self.session_id = session.id
        self.tenant_id = session.tenant_id
        self._session = session
        self._lease = lease
        self._settings = settings
        self._redis = redis
        self._engine: Engine | None = None
        self._stop_requested = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._outbox_wakeup = asyncio.Event()
        self.commands: asyncio.Queue[tuple[bytes, Command]] = asyncio.Queue()
        # Set once the current engine has reported a status other than "starting".
        self._engine_settled = asyncio.Event()
        # Clear while a command is being applied: its reports must finish before the runner decides.
        self._commands_idle = asyncio.Event()
        self._commands_idle.set()
        self.reporter = SessionReporter(
            redis=redis,
            tenant_id=session.tenant_id,
            session_id=session.id,
            lease=lease,
            status=session.status,
            on_lease_lost=self.on_lease_lost,
            on_status=self._on_engine_status,
        )

    def _on_engine_status(self, status: SessionStatus) -> None:
        if status == SessionStatus.STARTING:
            self._engine_settled.clear()
        else:
            self._engine_settled.set()

    @property
    def lease(self) -> Lease:
        return self._lease

    # -- stopping ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop driving the session (stop command, desired state changed, worker shutdown)."""
        self._stop_requested.set()
        if self._engine is not None:
            asyncio.get_running_loop().create_task(self._engine.stop())

    def on_lease_lost(self) -> None:
        # Another worker may already drive the session: stop at once, write nothing more.
        self.reporter.lease_lost = True
        self.request_stop()

    # -- main -------------------------------------------------------------------------------

    async def run(self) -> None:
        desired = self._session.desired_state
        try:
            if desired == DesiredState.DELETED:
                await self._delete()
            elif desired == DesiredState.LOGOUT:
                await self._logout()
            elif desired == DesiredState.RUNNING:
                await self._drive()
            elif self.reporter.current_status != SessionStatus.STOPPED:
                await self.reporter.status(SessionStatus.STOPPED, "stopped on request")
        except Exception:
            log.exception("session %s: runner failed", self.session_id)
            with contextlib.suppress(Exception):
                await self.reporter.status(SessionStatus.FAILED, "internal error in the worker; see its log")

    def _context(self) -> EngineContext:
        return EngineContext(
            session_id=self._session.id,
            tenant_id=self._session.tenant_id,
            name=self._session.name,
            phone=self._session.phone,
            jid=self._session.jid,
            data_dir=self._settings.data_dir,
            settings=self._settings,
        )

    async def _drive(self) -> None:
        consumer = asyncio.create_task(self._consume_commands())
        sender = asyncio.create_task(self._send_outbox_forever())
        try:
            attempt = 0
            while not self._stop_requested.is_set():
                self._engine_settled.clear()
                self._engine = create_engine(self._session.engine, self._context(), self.reporter)
                try:
                    await self._engine.run()
                except Exception as exc:
                    log.exception("session %s: engine crashed", self.session_id)
                    await self.reporter.status(SessionStatus.RECONNECTING, f"engine error: {exc}")
                else:
                    await self._wait_commands_idle()
                    if self._stop_requested.is_set():
                        break
                    if self.reporter.current_status in SETTLED_STATUSES:
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
            await self._wait_commands_idle()
            for task in (consumer, sender):
                task.cancel()
            await asyncio.gather(consumer, sender, return_exceptions=True)
            if self._engine is not None:
                with contextlib.suppress(Exception):
                    await self._engine.stop()

    async def _wait_commands_idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._commands_idle.wait(), ENGINE_SETTLE_TIMEOUT)

    async def _reload(self) -> None:
        fresh = await Session.get_or_none(id=self.session_id)
        if fresh is not None:
            self._session = fresh

    async def _settle_desired_state(self) -> None:
        """The engine ended for good (logged out, failed, QR window closed): stop wanting it to run."""
        await Session.filter(
            id=self.session_id, fence=self._lease.token, desired_state=DesiredState.RUNNING
        ).update(desired_state=DesiredState.STOPPED)

    async def _after_stop(self) -> None:
        if self.reporter.lease_lost:
            return
        await self._reload()
        desired = self._session.desired_state
        if desired == DesiredState.LOGOUT:
            await self._logout()
        elif desired == DesiredState.DELETED:
            await self._delete()
        elif desired == DesiredState.STOPPED:
            await self.reporter.status(SessionStatus.STOPPED, "stopped on request")
        else:
            # Worker shutdown: another worker resumes the session; say so instead of looking alive.
            await self.reporter.status(
                SessionStatus.RECONNECTING, "worker stopped; another worker resumes the session"
            )

    async def _logout(self) -> None:
        """Unlink and erase credentials; without a live engine (nobody ran it) a fresh one does it."""
        engine = self._engine or create_engine(self._session.engine, self._context(), self.reporter)
        with contextlib.suppress(EngineError):
            await engine.logout()
        await engine.erase_credentials()
        if self.reporter.current_status != SessionStatus.LOGGED_OUT:
            await self.reporter.status(SessionStatus.LOGGED_OUT, "logged out through the API")
        await self._settle_logout()

    async def _settle_logout(self) -> None:
        await Session.filter(
            id=self.session_id, fence=self._lease.token, desired_state=DesiredState.LOGOUT
        ).update(desired_state=DesiredState.STOPPED, phone=None, jid=None)

    async def _delete(self) -> None:
        engine = create_engine(self._session.engine, self._context(), self.reporter)
        await engine.erase_credentials()
        deleted = await Session.filter(id=self.session_id, fence=self._lease.token).delete()
        if deleted:
            await OutboundMessage.filter(session_id=self.session_id, status=MessageStatus.QUEUED).update(
                status=MessageStatus.FAILED, error="session deleted"
            )
            await self._redis.delete(session_commands_key(self.session_id))

    # -- commands ---------------------------------------------------------------------------

    async def _consume_commands(self) -> None:
        while True:
            entry_id, command = await self.commands.get()
            self._commands_idle.clear()
            try:
                result = await self._apply(command)
                if result is not None:
                    await post_result(self._redis, command.id, result)
                await self._acknowledge(entry_id)
            finally:
                self._commands_idle.set()

    async def _acknowledge(self, entry_id: bytes) -> None:
        key = session_commands_key(self.session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(key, COMMAND_GROUP, entry_id)
            pipe.xdel(key, entry_id)
            await pipe.execute()

    async def _apply(self, command: Command) -> CommandResult | None:
        try:
            if command.kind in {CommandKind.STOP, CommandKind.LOGOUT}:
                await self._reload()
                if self._session.desired_state != DesiredState.RUNNING:
                    self.request_stop()
                return CommandResult(ok=True)
            if command.kind == CommandKind.START:
                return CommandResult(ok=True)
            if command.kind == CommandKind.SEND:
                return await self._send_now(str(command.params.get("message_id", "")))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._engine_settled.wait(), ENGINE_SETTLE_TIMEOUT)
            engine = self._engine
            if engine is None or not self._engine_settled.is_set():
                raise NotConnected("the session is starting")
            if command.kind == CommandKind.PAIR_CODE:
                code = await engine.pair_phone(str(command.params["phone"]))
                return CommandResult(ok=True, data={"code": code})
            if command.kind.startswith(SANDBOX_COMMAND_PREFIX):
                data = await engine.sandbox(sandbox_action(command.kind), command.params)
                return CommandResult(ok=True, data=data)
            return CommandResult(ok=False, error=f"unknown command {command.kind!r}")
        except EngineError as exc:
            return CommandResult(ok=False, error=str(exc))
        except (KeyError, ValueError, TypeError) as exc:
            return CommandResult(ok=False, error=f"invalid command: {exc}")

    # -- outbox -----------------------------------------------------------------------------

    async def _send_now(self, message_id: str) -> CommandResult | None:
        """Send queued messages in order up to this one; answer the waiting caller if it went out."""
        if self._engine is None or not self._engine.connected:
            # Stays queued and goes out once connected; the caller need not wait to learn that.
            self._outbox_wakeup.set()
            return CommandResult(ok=True, data={"status": MessageStatus.QUEUED})
        await self.flush_outbox(until=message_id)
        message = await OutboundMessage.get_or_none(id=message_id)
        if message is None or message.status == MessageStatus.QUEUED:
            return None
        return CommandResult(
            ok=message.status == MessageStatus.SENT, data={"status": message.status}, error=message.error
        )

    async def _send_outbox_forever(self) -> None:
        """Queued messages (accepted while disconnected, or before a crash) go out once connected."""
        while True:
            if self._engine is not None and self._engine.connected:
                await self.flush_outbox()
            self._outbox_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_wakeup.wait(), 1.0)

    async def flush_outbox(self, until: str | None = None) -> None:
        async with self._send_lock:
            while self._engine is not None and self._engine.connected and not self.reporter.lease_lost:
                query = OutboundMessage.filter(session_id=self.session_id, status=MessageStatus.QUEUED)
                if until is not None:
                    query = query.filter(id__lte=until)
                message = await query.order_by("id").first()
                if message is None:
                    return
                try:
                    await self._deliver(self._engine, message)
                except NotConnected:
                    return

    async def _deliver(self, engine: Engine, message: OutboundMessage) -> None:
        outgoing = OutgoingMessage(id=message.id, to=message.to, type=message.type, payload=message.payload)
        try:
            receipt = await engine.send(outgoing)
        except NotConnected:
            raise
        except EngineError as exc:
            await self._record_outcome(message, MessageStatus.FAILED, error=str(exc))
            return
        await self._record_outcome(
            message, MessageStatus.SENT, whatsapp_id=receipt.whatsapp_id, at=receipt.timestamp
        )

    async def _record_outcome(
        self,
        message: OutboundMessage,
        status: MessageStatus,
        *,
        whatsapp_id: str | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        async def update_row(connection: BaseDBAsyncClient) -> None:
            await (
                OutboundMessage.filter(id=message.id)
                .using_db(connection)
                .update(status=status, whatsapp_id=whatsapp_id, error=error)
            )

        data: dict[str, Any]
        if status == MessageStatus.SENT:
            data = {
                "id": message.id,
                "whatsapp_id": whatsapp_id,
                "to": message.to,
                "timestamp": isoformat(at or datetime.now(UTC)),
            }
            event_type = EventType.MESSAGE_SENT
        else:
            data = {"id": message.id, "to": message.to, "error": error}
            event_type = EventType.MESSAGE_FAILED
        await self.reporter.message_outcome(event_type, data, update_row)
