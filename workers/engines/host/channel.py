"""The worker's handle on one engine host process: calls and their replies, reports, and its death.

A host is started with the running interpreter and ``-P`` (never importing from the
current directory, like every process Relay starts), stays in the worker's process
group and is killed by the kernel if the worker dies. Its death is noticed at once:
the pipe reaches EOF, the exit status says why, every pending call fails with
``HostExited`` and every attached session is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, Protocol

from relay.core.config import Settings
from workers.engines.base import EngineContext, NotConnected
from workers.engines.host import wire
from workers.engines.host.constants import HELLO, HOST_EXIT_GRACE, HOST_EXIT_TIMEOUT, HOST_START_TIMEOUT
from workers.engines.host.framing import Frame, FrameError, FrameWriter, read_frame
from workers.engines.host.wire import Op

log = logging.getLogger("relay.engine_host")

_PR_SET_PDEATHSIG = 1


class HostExited(NotConnected):
    """The engine host died (or could not start); ``reason`` says how, for the session's status."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionLink(Protocol):
    """What a channel tells the session it carries (the ``RemoteEngine``)."""

    def on_report(self, host: HostChannel, frame: Frame) -> None: ...

    def on_connected(self, host: HostChannel, connected: bool) -> None: ...

    async def move(self, host: HostChannel, why: str) -> None:
        """Leave ``host`` for another one (the host is being retired): a brief reconnect."""


def host_command() -> list[str]:
    """``relay engine-host`` with the worker's own interpreter (see ``relay.cli.launch``)."""
    return [sys.executable, "-P", "-m", "relay", "engine-host"]


def _die_with_parent() -> None:
    """``preexec_fn``: the kernel kills the host if its worker dies, whatever else happens."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"engine host exited: signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"engine host exited: signal {-returncode}"
    return f"engine host exited: exit code {returncode}"


async def _exit_status(process: asyncio.subprocess.Process) -> int:
    """The exit status of a host that failed to start: its own if it is exiting, else after a kill."""
    try:
        return await asyncio.wait_for(process.wait(), HOST_EXIT_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await process.wait()


class HostChannel:
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        on_exit: Callable[[HostChannel, str], None],
    ) -> None:
        self.process = process
        self.pid = process.pid
        assert process.stdout is not None and process.stdin is not None
        self._reader = process.stdout
        self._writer = FrameWriter(process.stdin)
        self._on_exit = on_exit
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self.sessions: dict[str, SessionLink] = {}
        self.connects = 0
        self.retiring: str | None = None  # why it is being retired, once it is
        self.closing = False
        self.exit_reason: str | None = None
        self.exited = asyncio.Event()
        self._read_task: asyncio.Task[None] | None = None
        self._acking: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, settings: Settings, on_exit: Callable[[HostChannel, str], None]) -> HostChannel:
        """Start a host and wait for its hello; raises ``HostExited`` if it never says it."""
        # The host reads its settings like any relay command; these two must be the worker's.
        env = {
            **os.environ,
            "RELAY_DATA_DIR": str(settings.data_dir),
            "RELAY_ENGINE_HOST_SESSIONS": str(settings.engine_host_sessions),
        }
        process = await asyncio.create_subprocess_exec(
            *host_command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=_die_with_parent,
        )
        channel = cls(process, on_exit)
        try:
            hello = await asyncio.wait_for(read_frame(channel._reader), HOST_START_TIMEOUT)
        except (TimeoutError, FrameError) as exc:
            hello = None
            log.error("engine host %d did not start: %s", process.pid, exc or "no hello")
        if hello is None or hello.get("type") != HELLO:
            raise HostExited(describe_exit(await _exit_status(process)) + " before it was ready")
        channel._read_task = asyncio.create_task(channel._read_loop(), name=f"engine-host-{process.pid}")
        log.info("engine host %d started", process.pid)
        return channel

    @property
    def alive(self) -> bool:
        return self.exit_reason is None

    # -- worker → host ----------------------------------------------------------------------

    async def call(
        self,
        op: Op,
        session_id: str = "",
        *,
        context: EngineContext | None = None,
        args: dict[str, Any] | None = None,
    ) -> Any:
        """Ask the host and wait for its answer; re-raises the host's ``EngineError`` here."""
        if self.exit_reason is not None:
            raise HostExited(self.exit_reason)
        call_id = next(self._ids)
        replied: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = replied
        frame: Frame = {"type": "call", "id": call_id, "op": str(op), "session": session_id}
        if context is not None:
            frame["context"] = wire.dump_context(context)
        if args:
            frame["args"] = args
        try:
            try:
                await self._writer.send(frame)
            except ConnectionError:
                await self.exited.wait()  # the read loop is settling how it died
                raise HostExited(self.exit_reason or "engine host exited") from None
            reply = await replied
        finally:
            self._pending.pop(call_id, None)
        link = self.sessions.get(session_id)
        if link is not None and "connected" in reply:
            link.on_connected(self, bool(reply["connected"]))
        if not reply.get("ok"):
            raise wire.load_error(reply.get("error") or {})
        return reply.get("result")

    async def ack(self, session_id: str, seq: int, result: Any = None, error: str | None = None) -> None:
        frame: Frame = {"type": "ack", "session": session_id, "seq": seq, "result": result}
        if error is not None:
            frame["error"] = error
        with contextlib.suppress(ConnectionError):
            await self._writer.send(frame)

    async def refresh_stats(self) -> None:
        stats = await self.call(Op.STATS)
        self.connects = int(stats.get("connects", 0))

    async def close(self) -> None:
        """Let the host stop its clients and exit (EOF on its stdin); kill it if it will not."""
        self.closing = True
        self._writer.close()
        try:
            await asyncio.wait_for(self.process.wait(), HOST_EXIT_TIMEOUT)
        except TimeoutError:
            log.warning("engine host %d did not exit in %gs; killing it", self.pid, HOST_EXIT_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        if self._read_task is not None:
            await asyncio.gather(self._read_task, return_exceptions=True)

    # -- host → worker ----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while (frame := await read_frame(self._reader)) is not None:
                self._dispatch(frame)
        except (FrameError, ValueError, ConnectionError) as exc:
            log.error("engine host %d: unreadable frame (%s); killing it", self.pid, exc)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        finally:
            await self._died()

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.get("type")
        if "connects" in frame:
            self.connects = int(frame["connects"])
        if kind == "reply":
            replied = self._pending.get(int(frame.get("id", 0)))
            if replied is not None and not replied.done():
                replied.set_result(frame)
        elif kind == "report":
            session_id = str(frame.get("session"))
            link = self.sessions.get(session_id)
            if link is None:
                # Nobody listens (the session left): answer so the host's engine is not stuck.
                log.warning("engine host %d: report for %s, no longer carried", self.pid, session_id)
                task = asyncio.get_running_loop().create_task(self.ack(session_id, int(frame.get("seq", 0))))
                self._acking.add(task)
                task.add_done_callback(self._acking.discard)
            else:
                link.on_report(self, frame)
        else:
            log.warning("engine host %d: ignoring a frame of type %r", self.pid, kind)

    async def _died(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        returncode = await self.process.wait()
        self.exit_reason = describe_exit(returncode)
        self.exited.set()
        if not self.closing:
            log.error("%s (pid %d, %d session(s))", self.exit_reason, self.pid, len(self.sessions))
        for replied in self._pending.values():
            if not replied.done():
                replied.set_exception(HostExited(self.exit_reason))
        self._on_exit(self, self.exit_reason)
