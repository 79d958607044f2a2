"""``RemoteEngine``: the ``Engine`` a runner drives for a WhatsApp session whose client lives in a host.

The worker keeps the lease, fencing, commands and publishing; the host only speaks to
WhatsApp. Each report from the host is handed to the session's own reporter in the
order it came, and acked once the reporter returned (the event is in the journal),
so the IPC adds no place where an event is lost once the host has sent it.

When the host dies the session reports ``reconnecting`` with the reason (after the
reports that came before, in order) and resumes on a new host from its stored
credentials at once; the pool paces replacement hosts while hosts keep dying. When
the host is retired the session moves the same way, after a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from relay.core.enums import EventType, GroupAction, SessionStatus
from workers.engines.base import (
    ContactCheck,
    EngineContext,
    EngineError,
    EngineReporter,
    NotConnected,
    OutgoingMessage,
    SendReceipt,
    UnsupportedCommand,
)
from workers.engines.host import wire
from workers.engines.host.channel import HostChannel, HostExited
from workers.engines.host.framing import Frame
from workers.engines.host.pool import EngineHostPool, PoolClosed, engine_hosts
from workers.engines.host.wire import Op, ReportMethod

log = logging.getLogger("relay.engine_host")

# stop() waits this long for the run to end after the host stopped the client.
STOP_WAIT_SECONDS = 35.0

_Job = Callable[[], Awaitable[None]]


class RemoteEngine:
    def __init__(
        self, context: EngineContext, reporter: EngineReporter, *, pool: EngineHostPool | None = None
    ) -> None:
        self._context = context
        self._reporter = reporter
        self._pool = pool or engine_hosts(context.settings)
        self._host: HostChannel | None = None
        self._connected = False
        self._running = False
        self._stopping = False
        self._moving: str | None = None
        self._finished = asyncio.Event()
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._last_status: tuple[SessionStatus, str | None] | None = None
        # Hosts this engine has run on (a new one after each crash or move).
        self.hosts_used = 0

    @property
    def session_id(self) -> str:
        return self._context.session_id

    @property
    def host(self) -> HostChannel | None:
        return self._host

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def connected(self) -> bool:
        return self._connected and self._host is not None and self._host.alive and not self._stopping

    # -- Engine ----------------------------------------------------------------------------

    async def run(self) -> None:
        if self._running:
            raise EngineError("the engine is already running")
        if self._stopping:
            return
        self._running = True
        self._finished.clear()
        try:
            while not self._stopping:
                try:
                    host = await self._pool.attach(self.session_id, self)
                except PoolClosed:
                    return
                except HostExited as exc:
                    await self._report_in_order(SessionStatus.RECONNECTING, exc.reason)
                    continue  # the pool waits longer before each new host while they keep dying
                if self.stopping:  # stop() came while a host was being found
                    self._pool.detach(host, self.session_id)
                    return
                self._host = host
                self.hosts_used += 1
                try:
                    ended = await host.call(Op.RUN, self.session_id, context=self._context)
                except HostExited as exc:
                    self._moving = None
                    if not self._stopping:
                        await self._report_in_order(SessionStatus.RECONNECTING, exc.reason)
                    continue
                finally:
                    self._connected = False
                    self._pool.detach(host, self.session_id)
                    self._host = None
                moving, self._moving = self._moving, None
                # Only a run that was stopped to move goes on; one that ended by itself (logged
                # out, failed, the QR window closed) ended for good, whatever a move wanted.
                if moving is None or not (ended or {}).get("stopped"):
                    return
        finally:
            await self._drain()
            self._running = False
            self._finished.set()

    async def stop(self) -> None:
        self._stopping = True
        host = self._host
        if host is not None:
            with contextlib.suppress(HostExited):
                await host.call(Op.STOP, self.session_id)
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), STOP_WAIT_SECONDS)

    async def logout(self) -> None:
        await self._call(Op.LOGOUT, transient=True)
        self._forget_account()

    async def erase_credentials(self) -> None:
        await self._call(Op.ERASE, transient=True)
        self._forget_account()

    async def pair_phone(self, phone: str) -> str:
        return str(await self._call(Op.PAIR_PHONE, {"phone": phone}))

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        result = await self._call(Op.SEND, {"message": wire.dump_message(message)})
        return wire.load_receipt(result)

    async def check_contacts(self, phones: list[str]) -> list[ContactCheck]:
        return wire.load_contacts(await self._call(Op.CHECK_CONTACTS, {"phones": phones}))

    async def mark_read(self, chat: str, message_ids: list[str], sender: str | None) -> None:
        await self._call(Op.MARK_READ, {"chat": chat, "message_ids": message_ids, "sender": sender})

    async def send_presence(self, chat: str, state: str) -> None:
        await self._call(Op.SEND_PRESENCE, {"chat": chat, "state": state})

    async def groups(self, action: GroupAction, params: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call(Op.GROUPS, {"action": str(action), "params": params}))

    async def sandbox(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        raise UnsupportedCommand("sandbox actions only work on sandbox sessions")

    async def download_media(self, reference: dict[str, Any], destination: Path) -> None:
        # Only the path crosses the pipe: the host writes the file, the worker reads it.
        await self._call(Op.DOWNLOAD_MEDIA, {"reference": reference, "path": str(destination)})

    # -- what the pool and the channel tell -------------------------------------------------

    def on_report(self, host: HostChannel, frame: Frame) -> None:
        self._submit(lambda: self._handle_report(host, frame))

    def on_connected(self, host: HostChannel, connected: bool) -> None:
        if host is self._host:
            self._connected = connected

    async def move(self, host: HostChannel, why: str) -> None:
        if host is not self._host or self._stopping or not self._running:
            return
        self._moving = why
        await self._report_in_order(SessionStatus.RECONNECTING, f"{why}; resuming on a new engine host")
        with contextlib.suppress(HostExited):
            await host.call(Op.STOP, self.session_id)

    # -- calls ------------------------------------------------------------------------------

    async def _call(self, op: Op, args: dict[str, Any] | None = None, *, transient: bool = False) -> Any:
        host = self._host
        if host is not None:
            return await host.call(op, self.session_id, context=self._context, args=args)
        if not transient:
            if self._running:
                raise NotConnected("the session is not connected (its engine host is starting)")
            raise NotConnected("the session is not running")
        # Nobody runs the session (a logout or delete after it stopped): a host does it once.
        host = await self._pool.attach(self.session_id, self)
        try:
            return await host.call(op, self.session_id, context=self._context, args=args)
        finally:
            self._pool.detach(host, self.session_id)
            await self._drain()

    def _forget_account(self) -> None:
        self._context = replace(self._context, phone=None, jid=None)

    # -- reports, one at a time in arrival order --------------------------------------------

    def _submit(self, job: _Job) -> None:
        self._jobs.put_nowait(job)
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.get_running_loop().create_task(
                self._consume(), name=f"remote-engine-{self.session_id}"
            )

    async def _consume(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                await job()
            except Exception:
                log.exception("session %s: handling a report from the engine host failed", self.session_id)
            finally:
                self._jobs.task_done()

    async def _drain(self) -> None:
        """Wait for every report received so far, then stop consuming."""
        if self._consumer is None:
            return
        await self._jobs.join()
        self._consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._consumer
        self._consumer = None

    async def _report_in_order(self, status: SessionStatus, reason: str) -> None:
        """A status the worker decides (the host died, it moves), after the host's own reports."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def job() -> None:
            try:
                # The same again (a host that keeps failing to start) is not news.
                if self._last_status != (status, reason):
                    self._last_status = (status, reason)
                    await self._reporter.status(status, reason)
            finally:
                if not done.done():
                    done.set_result(None)

        self._submit(job)
        await done

    async def _handle_report(self, host: HostChannel, frame: Frame) -> None:
        seq = int(frame.get("seq", 0))
        try:
            result = await self._apply(ReportMethod(frame["method"]), frame.get("args") or {})
        except Exception as exc:
            log.exception("session %s: the reporter failed on %s", self.session_id, frame.get("method"))
            await host.ack(self.session_id, seq, error=f"{type(exc).__name__}: {exc}")
            return
        if host is self._host and "connected" in frame:
            self._connected = bool(frame["connected"])
        await host.ack(self.session_id, seq, result)

    async def _apply(self, method: ReportMethod, args: dict[str, Any]) -> Any:
        reporter = self._reporter
        if method == ReportMethod.STATUS:
            status = SessionStatus(args["status"])
            phone, jid = args.get("phone"), args.get("jid")
            await reporter.status(status, args.get("reason"), phone=phone, jid=jid)
            self._last_status = (status, args.get("reason"))
            self._follow_account(status, phone, jid)
            return None
        if method == ReportMethod.QR:
            await reporter.qr(str(args["code"]), wire.load_datetime(args["expires_at"]))
        elif method == ReportMethod.PAIR_CODE:
            await reporter.pair_code(str(args["code"]))
        elif method == ReportMethod.MESSAGE_RECEIVED:
            await reporter.message_received(dict(args["data"]))
        elif method == ReportMethod.MESSAGE_ACK:
            await reporter.message_ack(dict(args["data"]))
        elif method == ReportMethod.GROUP_EVENT:
            await reporter.group_event(EventType(args["type"]), dict(args["data"]))
        elif method == ReportMethod.SYNCED:
            await reporter.synced(int(args["count"]))
        elif method == ReportMethod.FLUSH:
            return await reporter.flush()
        return None

    def _follow_account(self, status: SessionStatus, phone: str | None, jid: str | None) -> None:
        """Keep the context's account current: a restart on a new host resumes the linked device."""
        if status == SessionStatus.LOGGED_OUT:
            self._forget_account()
        elif phone is not None or jid is not None:
            self._context = replace(
                self._context, phone=phone or self._context.phone, jid=jid or self._context.jid
            )
