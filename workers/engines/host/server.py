"""The engine host process: real ``WhatsAppEngine`` s driven by the frames of the worker that started it.

The host speaks only to WhatsApp. Each reporter call of an engine becomes a report
frame sent at once, and the engine waits for the worker's ack, which comes once the
worker has the event in its journal: the host keeps nothing of its own to lose.

stdout carries the frames, so the Go core's own prints (it writes to stdout) are moved
to the log before neonize is loaded (``go_prints``). The host ignores SIGINT and SIGTERM: it belongs to
its worker, and ends when the worker closes the pipe (or dies, which closes it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.core.enums import EventType, GroupAction, SessionStatus
from relay.core.logging_setup import bind_log_context
from workers.engines.base import EngineContext, EngineError
from workers.engines.host import wire
from workers.engines.host.constants import HELLO
from workers.engines.host.framing import Frame, FrameWriter, read_frame
from workers.engines.host.go_prints import route_go_prints
from workers.engines.host.wire import Op, ReportMethod

log = logging.getLogger("relay.engine_host")

# Threads beyond one per client: neonize holds one default-executor thread per live client.
EXECUTOR_HEADROOM = 32


class HostReporter:
    """An ``EngineReporter`` that forwards each call to the worker and returns once it is acked."""

    def __init__(self, server: EngineHostServer, session_id: str) -> None:
        self._server = server
        self._session_id = session_id

    async def status(
        self,
        status: SessionStatus,
        reason: str | None = None,
        *,
        phone: str | None = None,
        jid: str | None = None,
    ) -> None:
        args = {"status": str(status), "reason": reason, "phone": phone, "jid": jid}
        await self._server.report(self._session_id, ReportMethod.STATUS, args)

    async def qr(self, code: str, expires_at: datetime) -> None:
        args = {"code": code, "expires_at": wire.dump_datetime(expires_at)}
        await self._server.report(self._session_id, ReportMethod.QR, args)

    async def pair_code(self, code: str) -> None:
        await self._server.report(self._session_id, ReportMethod.PAIR_CODE, {"code": code})

    async def message_received(self, data: dict[str, Any]) -> None:
        await self._server.report(self._session_id, ReportMethod.MESSAGE_RECEIVED, {"data": data})

    async def message_ack(self, data: dict[str, Any]) -> None:
        await self._server.report(self._session_id, ReportMethod.MESSAGE_ACK, {"data": data})

    async def group_event(self, type: EventType, data: dict[str, Any]) -> None:
        args = {"type": str(type), "data": data}
        await self._server.report(self._session_id, ReportMethod.GROUP_EVENT, args)

    async def synced(self, count: int) -> None:
        await self._server.report(self._session_id, ReportMethod.SYNCED, {"count": count})

    async def flush(self) -> bool:
        return bool(await self._server.report(self._session_id, ReportMethod.FLUSH, {}))


class EngineHostServer:
    """One host's sessions: the engines it runs, its pending reports, and what it counts."""

    def __init__(self, writer: FrameWriter) -> None:
        from workers.engines.whatsapp import WhatsAppEngine

        self._engine_class = WhatsAppEngine
        self._writer = writer
        self._engines: dict[str, Any] = {}
        self._acks: dict[tuple[str, int], asyncio.Future[Any]] = {}
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        # Calls into the Go core (each one opens a store the core never closes).
        self.connects = 0

    # -- reports (host → worker) -------------------------------------------------------------

    async def report(self, session_id: str, method: ReportMethod, args: dict[str, Any]) -> Any:
        seq = next(self._seq)
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[(session_id, seq)] = acked
        engine = self._engines.get(session_id)
        frame = {
            "type": "report",
            "session": session_id,
            "seq": seq,
            "method": str(method),
            "args": args,
            "connected": bool(engine is not None and engine.connected),
            "connects": self.connects,
        }
        try:
            await self._writer.send(frame)
            return await acked
        finally:
            self._acks.pop((session_id, seq), None)

    def _on_ack(self, frame: Frame) -> None:
        acked = self._acks.get((str(frame.get("session")), int(frame.get("seq", 0))))
        if acked is None or acked.done():
            return
        if frame.get("error"):
            # The worker's reporter failed: the engine sees it fail, as it would in process.
            acked.set_exception(EngineError(f"the worker could not take the report: {frame['error']}"))
        else:
            acked.set_result(frame.get("result"))

    # -- calls (worker → host) ---------------------------------------------------------------

    def handle(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "ack":
            self._on_ack(frame)
        elif kind == "call":
            task = asyncio.create_task(self._answer(frame))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            log.warning("engine host: ignoring a frame of type %r", kind)

    async def _answer(self, frame: Frame) -> None:
        session_id = str(frame.get("session") or "")
        bind_log_context(session=session_id or None)  # this call's task, and a run's engine tasks
        reply: Frame = {"type": "reply", "id": frame.get("id")}
        try:
            reply.update(ok=True, result=await self._call(Op(frame["op"]), session_id, frame))
        except Exception as exc:
            if not isinstance(exc, EngineError):
                log.exception("session %s: %s failed in the engine host", session_id, frame.get("op"))
            reply.update(ok=False, error=wire.dump_error(exc))
        engine = self._engines.get(session_id)
        reply["connected"] = bool(engine is not None and engine.connected)
        reply["connects"] = self.connects
        with contextlib.suppress(ConnectionError):
            await self._writer.send(reply)

    async def _call(self, op: Op, session_id: str, frame: Frame) -> Any:
        args: dict[str, Any] = frame.get("args") or {}
        if op == Op.STATS:
            return {"connects": self.connects, "sessions": len(self._engines)}
        if op == Op.RUN:
            return await self._run(session_id, wire.load_context(frame["context"]))
        engine = self._engines.get(session_id)
        if op == Op.STOP:
            if engine is not None:
                await engine.stop()
            return None
        if engine is None:
            # Not running here (a logout or delete of a session nobody runs): a fresh engine does it.
            engine = self._new_engine(wire.load_context(frame["context"]))
        if op == Op.LOGOUT:
            await engine.logout()
            return None
        if op == Op.ERASE:
            await engine.erase_credentials()
            return None
        if op == Op.PAIR_PHONE:
            return await engine.pair_phone(str(args["phone"]))
        if op == Op.SEND:
            receipt = await engine.send(wire.load_message(args["message"]))
            return wire.dump_receipt(receipt)
        if op == Op.CHECK_CONTACTS:
            return wire.dump_contacts(await engine.check_contacts([str(p) for p in args["phones"]]))
        if op == Op.MARK_READ:
            ids = [str(i) for i in args["message_ids"]]
            await engine.mark_read(str(args["chat"]), ids, args.get("sender"))
            return None
        if op == Op.SEND_PRESENCE:
            await engine.send_presence(str(args["chat"]), str(args["state"]))
            return None
        if op == Op.GROUPS:
            return await engine.groups(GroupAction(args["action"]), dict(args.get("params") or {}))
        if op == Op.DOWNLOAD_MEDIA:
            await engine.download_media(dict(args["reference"]), Path(str(args["path"])))
            return None
        if op == Op.SANDBOX:
            return await engine.sandbox(str(args["action"]), dict(args.get("params") or {}))
        raise EngineError(f"unknown operation {op!r}")

    def _new_engine(self, context: EngineContext) -> Any:
        """An engine as the worker would run it; its client dials through ``context.proxy``, if any."""

        async def connect(client: Any) -> asyncio.Future[None]:
            from workers.engines.whatsapp.runtime import open_client

            self.connects += 1
            return await open_client(client)

        return self._engine_class(context, HostReporter(self, context.session_id), connector=connect)

    async def _run(self, session_id: str, context: EngineContext) -> dict[str, bool]:
        """Run the session until it stops or ends; says which (a stopped session may move on)."""
        if session_id in self._engines:
            raise EngineError("the session already runs in this engine host")
        engine = self._new_engine(context)
        self._engines[session_id] = engine
        try:
            await engine.run()
        finally:
            if self._engines.get(session_id) is engine:
                del self._engines[session_id]
        return {"stopped": bool(engine.stopping)}

    async def stop_all(self) -> None:
        """The worker is gone: stop every client (one at a time: the core's maps have no locks)."""
        for engine in list(self._engines.values()):
            with contextlib.suppress(Exception):
                await engine.stop()
        for acked in self._acks.values():
            acked.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def serve(frames_in: int, frames_out: int, sessions: int) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=sessions + EXECUTOR_HEADROOM))
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(frames_in, "rb"))
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(frames_out, "wb")
    )
    writer = FrameWriter(asyncio.StreamWriter(transport, protocol, None, loop))
    server = EngineHostServer(writer)
    await writer.send({"type": HELLO, "pid": os.getpid()})
    try:
        while (frame := await read_frame(reader)) is not None:
            server.handle(frame)
    finally:
        await server.stop_all()
        writer.close()


def run_engine_host(sessions: int) -> None:
    """``relay engine-host``: serve the worker on stdin/stdout until it closes them."""
    frames_out = os.dup(sys.stdout.fileno())
    route_go_prints()  # the Go core's prints go to the log
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(serve(sys.stdin.fileno(), frames_out, sessions))
    log.info("engine host %d: the worker closed the pipe; exiting", os.getpid())
