"""A session's commands, applied one at a time in the order they were sent.

The supervisor reads every owned session's command stream and hands each entry
to that session's dispatcher. The dispatcher applies it, then posts the result
for a caller that waits and acknowledges the entry in one transaction: a
command whose owner died before finishing it stays pending, and the next owner
applies it.

Redis may be away when a result is ready: the dispatcher keeps trying to post
it, with a capped backoff and one log line per outage, and only then takes the
next command, so results are never posted out of order nor lost while the
process lives. (If it dies meanwhile, the entry is still pending and the next
owner applies the command again.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.core.commands import Command, CommandResult, complete_command
from relay.core.enums import CommandKind, GroupAction
from relay.core.metrics import timed_command
from relay.core.outage_log import OutageLog
from workers.engines.base import (
    SANDBOX_COMMAND_PREFIX,
    Engine,
    EngineError,
    GroupNotFound,
    NotConnected,
    sandbox_action,
)
from workers.media_fetch import MediaFetcher
from workers.send_queue import SendQueue

log = logging.getLogger("relay.worker.commands")

# Pauses (seconds) between attempts to post a result while Redis does not answer.
POST_RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)


class CommandTarget(Protocol):
    """What the dispatcher needs from the runner of its session."""

    async def follow_desired_state(self) -> None:
        """Re-read what the API wants and stop driving the session unless it should still run."""

    async def settled_engine(self) -> Engine:
        """The engine once it has left ``starting``; raises ``NotConnected`` if it does not in time."""


class CommandDispatcher:
    def __init__(
        self,
        session_id: str,
        redis: Redis,
        *,
        target: CommandTarget,
        sends: SendQueue,
        media: MediaFetcher | None = None,
    ) -> None:
        self._session_id = session_id
        self._redis = redis
        self._target = target
        self._sends = sends
        self._media = media
        self._pending: asyncio.Queue[tuple[bytes, Command]] = asyncio.Queue()
        # Clear while a command is being applied: its reports must finish before the runner decides.
        self._idle = asyncio.Event()
        self._idle.set()
        self._redis_outage = OutageLog(
            log, f"session {session_id}: posting a command result", "retrying until Redis answers"
        )

    def submit(self, entry_id: bytes, command: Command) -> None:
        """Queue a command read from the session's stream (``entry_id`` is acknowledged once applied)."""
        self._pending.put_nowait((entry_id, command))

    async def wait_idle(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, until no command is being applied."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def run(self) -> None:
        while True:
            entry_id, command = await self._pending.get()
            self._idle.clear()
            try:
                result = await timed_command(command.kind, self._apply(command))
                await self._post(entry_id, command, result)
            finally:
                self._idle.set()

    async def _post(self, entry_id: bytes, command: Command, result: CommandResult | None) -> None:
        """Post the result and acknowledge the entry, however long Redis takes to come back."""
        attempt = 0
        while True:
            try:
                await complete_command(self._redis, self._session_id, entry_id, command.id, result)
            except (RedisError, OSError) as exc:
                self._redis_outage.failed(exc, 1 if attempt == 0 else 0)
                await asyncio.sleep(POST_RETRY_DELAYS[min(attempt, len(POST_RETRY_DELAYS) - 1)])
                attempt += 1
                continue
            self._redis_outage.succeeded()
            return

    async def _apply(self, command: Command) -> CommandResult | None:
        """The command's result for its caller; ``None`` when the caller should keep waiting."""
        try:
            if command.kind in {CommandKind.STOP, CommandKind.LOGOUT}:
                await self._target.follow_desired_state()
                return CommandResult(ok=True)
            if command.kind == CommandKind.START:
                return CommandResult(ok=True)
            if command.kind == CommandKind.SEND:
                return await self._sends.send_now(str(command.params.get("message_id", "")))
            if command.kind == CommandKind.MEDIA_FETCH and self._media is not None:
                # Started, not awaited: a large file must not hold up the session's other commands.
                # The web waits on the media row.
                self._media.fetch(str(command.params["media_id"]))
                return CommandResult(ok=True)
            engine = await self._target.settled_engine()
            if command.kind == CommandKind.PAIR_CODE:
                code = await engine.pair_phone(str(command.params["phone"]))
                return CommandResult(ok=True, data={"code": code})
            if command.kind == CommandKind.CONTACTS_CHECK:
                checks = await engine.check_contacts([str(p) for p in command.params["phones"]])
                return CommandResult(ok=True, data={"contacts": [asdict(check) for check in checks]})
            if command.kind == CommandKind.READ:
                params = command.params
                ids = [str(i) for i in params["message_ids"]]
                await engine.mark_read(str(params["chat"]), ids, params.get("sender"))
                return CommandResult(ok=True)
            if command.kind == CommandKind.PRESENCE:
                await engine.send_presence(str(command.params["chat"]), str(command.params["state"]))
                return CommandResult(ok=True)
            if command.kind == CommandKind.GROUPS:
                action = GroupAction(command.params["action"])
                data = await engine.groups(action, dict(command.params.get("params") or {}))
                return CommandResult(ok=True, data=data)
            if command.kind.startswith(SANDBOX_COMMAND_PREFIX):
                data = await engine.sandbox(sandbox_action(command.kind), command.params)
                return CommandResult(ok=True, data=data)
            return CommandResult(ok=False, error=f"unknown command {command.kind!r}")
        except GroupNotFound as exc:
            return CommandResult(ok=False, data={"not_found": True}, error=str(exc))
        except NotConnected as exc:
            # The web answers 409 naming the state rather than a generic refusal.
            return CommandResult(ok=False, data={"not_connected": True}, error=str(exc))
        except EngineError as exc:
            return CommandResult(ok=False, error=str(exc))
        except (KeyError, ValueError, TypeError) as exc:
            return CommandResult(ok=False, error=f"invalid command: {exc}")
