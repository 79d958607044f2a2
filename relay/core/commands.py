"""Commands for a session's owner, carried by a durable per-session Redis Stream.

The web process appends a command and (optionally) waits a bounded time for
its result; whichever worker owns the session reads the stream through a
consumer group, so a command appended while the owner dies stays pending and
the next owner claims it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from relay.core.constants import (
    COMMAND_RESULT_TTL,
    COMMAND_STREAM_MAXLEN,
    command_result_key,
    session_commands_key,
)
from relay.core.ids import new_id

COMMAND_KINDS = frozenset(
    {
        "start",
        "stop",
        "logout",
        "send",
        "pair_code",
        "sandbox.scan",
        "sandbox.inbound",
        "sandbox.drop",
        "sandbox.logout",
    }
)


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_fields(self) -> dict[str, bytes]:
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
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    wait: float = 0.0,
    command_id: str | None = None,
) -> CommandResult | None:
    """Append a command; with ``wait`` > 0, return its result or ``None`` on timeout."""
    if kind not in COMMAND_KINDS:
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
    # BLPOP takes whole seconds on old servers; Redis >= 6 and Valkey accept decimals.
    popped = await redis.blpop([command_result_key(command_id)], timeout=max(wait, 0.01))
    if popped is None:
        return None
    return CommandResult.from_json(popped[1])


async def post_result(redis: Redis, command_id: str, result: CommandResult) -> None:
    key = command_result_key(command_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, result.to_json())
        pipe.expire(key, COMMAND_RESULT_TTL)
        await pipe.execute()
