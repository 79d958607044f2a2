"""Commands for a session's owner, carried by a durable per-session Redis Stream.

The web process appends a command and (optionally) waits a bounded time for
its result; whichever worker owns the session reads the stream through a
consumer group, so a command appended while the owner dies stays pending and
the next owner claims it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from relay.core.constants import (
    COMMAND_RESULT_TTL,
    COMMAND_STREAM_MAXLEN,
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
    await redis.xadd(
        session_commands_key(session_id),
        command.to_fields(),
        maxlen=COMMAND_STREAM_MAXLEN,
        approximate=True,
    )
    if wait <= 0:
        return None
    return await wait_for_result(redis, command.id, wait)


async def wait_for_result(redis: Redis, command_id: str, wait: float) -> CommandResult | None:
    # BLPOP takes whole seconds on old servers (and in redis-py's hint); Redis >= 6 and Valkey take decimals.
    reply = redis.blpop([command_result_key(command_id)], timeout=max(wait, 0.01))  # type: ignore[arg-type]
    # redis-py types each reply for its sync and asyncio clients at once; this is BLPOP's on asyncio.
    popped = await cast("Awaitable[tuple[bytes, bytes] | None]", reply)
    if popped is None:
        return None
    return CommandResult.from_json(popped[1])


async def post_result(redis: Redis, command_id: str, result: CommandResult) -> None:
    key = command_result_key(command_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, result.to_json())
        pipe.expire(key, COMMAND_RESULT_TTL)
        await pipe.execute()
