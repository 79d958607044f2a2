"""Commands for a session's owner, carried by a durable per-session Redis Stream.

The web process appends a command and (optionally) waits a bounded time for
its result; whichever worker owns the session reads the stream through a
consumer group, so a command appended while the owner dies stays pending and
the next owner claims it.

One round trip each way: the caller appends the command and starts its
blocking pop on the command's own result key in one pipeline, and the owner
posts the result and acknowledges the entry in one transaction (the pop wakes
as the transaction commits).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from relay.core.constants import (
    COMMAND_GROUP,
    COMMAND_RESULT_TTL,
    COMMAND_STREAM_MAXLEN,
    COMMAND_WAIT_SLICE,
    command_result_key,
    session_commands_key,
)
from relay.core.enums import CommandKind
from relay.core.ids import new_id


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    # A ``CommandKind`` value, kept as read from the stream: the owner answers a kind it does
    # not know with an error result rather than failing to read the command.
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_fields(self) -> dict[FieldT, EncodableT]:
        return {"c": orjson.dumps({"id": self.id, "kind": self.kind, "params": self.params})}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Command:
        raw = orjson.loads(fields[b"c"])
        return cls(id=raw["id"], kind=raw["kind"], params=raw.get("params") or {})


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps({"ok": self.ok, "data": self.data, "error": self.error})

    @classmethod
    def from_json(cls, raw: bytes) -> CommandResult:
        parsed = orjson.loads(raw)
        return cls(ok=parsed["ok"], data=parsed.get("data") or {}, error=parsed.get("error"))


async def submit_command(
    redis: Redis,
    session_id: str,
    kind: CommandKind,
    params: dict[str, Any] | None = None,
    *,
    wait: float = 0.0,
    command_id: str | None = None,
) -> CommandResult | None:
    """Append a command; with ``wait`` > 0, return its result or ``None`` on timeout."""
    # Typed callers cannot get the kind wrong; this keeps a typo elsewhere from reaching the owner.
    if kind not in CommandKind.__members__.values():
        raise ValueError(f"unknown command kind {kind!r}")
    command = Command(id=command_id or new_id("cmd"), kind=kind, params=params or {})
    deadline = time.monotonic() + wait
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(
            session_commands_key(session_id),
            command.to_fields(),
            maxlen=COMMAND_STREAM_MAXLEN,
            approximate=True,
        )
        if wait > 0:
            _pop_result(pipe, command.id, wait)
        replies = await pipe.execute()
    if wait <= 0:
        return None
    popped = replies[1]
    while popped is None and (remaining := deadline - time.monotonic()) > 0:
        popped = await cast(
            "Awaitable[tuple[bytes, bytes] | None]", _pop_result(redis, command.id, remaining)
        )
    return None if popped is None else CommandResult.from_json(popped[1])


def _pop_result(redis: Redis, command_id: str, wait: float) -> Any:
    """BLPOP the result for at most one slice of ``wait`` (on a pipeline: queued, not sent).

    Slices keep each blocking read shorter than the client's read timeout. BLPOP takes whole
    seconds on old servers (and in redis-py's hint); Redis >= 6 and Valkey take decimals, and 0
    would mean forever.
    """
    timeout = min(max(wait, 0.01), COMMAND_WAIT_SLICE)
    return redis.blpop([command_result_key(command_id)], timeout=timeout)  # type: ignore[arg-type]


async def complete_command(
    redis: Redis, session_id: str, entry_id: bytes, command_id: str, result: CommandResult | None
) -> None:
    """Post ``result`` for the caller (``None``: no result yet) and acknowledge the entry, atomically.

    Atomic, so a command is never both answered and left pending for the next owner to apply again.
    """
    stream = session_commands_key(session_id)
    async with redis.pipeline(transaction=True) as pipe:
        if result is not None:
            key = command_result_key(command_id)
            pipe.rpush(key, result.to_json())
            pipe.expire(key, COMMAND_RESULT_TTL)
        pipe.xack(stream, COMMAND_GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()
