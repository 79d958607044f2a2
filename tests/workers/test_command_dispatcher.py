"""A session's command dispatcher outlives a Redis outage that starts while a result is being posted.

Real Valkey, killed with SIGKILL and started again on the same port and data
dir (append-only file): the dispatcher's task keeps retrying the result, posts
it once Redis is back, and goes on to the next command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.core.commands import Command, CommandResult
from relay.core.constants import COMMAND_GROUP, command_result_key, session_commands_key
from relay.core.enums import CommandKind
from relay.core.ids import new_id
from tests.helpers import wait_until
from tests.servers import PrivateValkey
from workers.command_dispatcher import CommandDispatcher


async def read_result(redis: Redis, command_id: str) -> CommandResult | None:
    with contextlib.suppress(RedisError, OSError):
        raw = await redis.lindex(command_result_key(command_id), 0)  # type: ignore[misc]
        return None if raw is None else CommandResult.from_json(raw)
    return None


async def append(redis: Redis, session_id: str) -> tuple[bytes, Command]:
    command = Command(id=new_id("cmd"), kind=CommandKind.START)
    entry_id = await redis.xadd(session_commands_key(session_id), command.to_fields())
    return entry_id, command


async def test_a_result_ready_while_redis_is_down_is_posted_once_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    valkey = PrivateValkey(tmp_path / "valkey")
    valkey.start()
    redis = Redis.from_url(valkey.url, socket_connect_timeout=1, socket_timeout=1)
    session_id = new_id("ses")
    # ``start`` needs neither the runner nor the send queue: the dispatcher alone is under test.
    dispatcher = CommandDispatcher(session_id, redis, target=None, sends=None)  # type: ignore[arg-type]
    running = asyncio.create_task(dispatcher.run())
    try:
        await redis.xgroup_create(session_commands_key(session_id), COMMAND_GROUP, id="0", mkstream=True)
        first_entry, first = await append(redis, session_id)
        second_entry, second = await append(redis, session_id)

        valkey.kill()
        with caplog.at_level(logging.WARNING, logger="relay.worker.commands"):
            dispatcher.submit(first_entry, first)
            dispatcher.submit(second_entry, second)
            # A few failed attempts to post; the task is still there.
            await asyncio.sleep(1.0)
            assert not running.done()
            valkey.start()

            async def both_posted() -> bool:
                results = [await read_result(redis, c.id) for c in (first, second)]
                return all(result is not None and result.ok for result in results)

            await wait_until(both_posted, what="both results posted after the outage", timeout=30)
        assert caplog.text.count("posting a command result failed") == 1, caplog.text
        pending = await redis.xpending(session_commands_key(session_id), COMMAND_GROUP)
        assert pending["pending"] == 0, "both entries acknowledged"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await redis.aclose()
        valkey.destroy()
