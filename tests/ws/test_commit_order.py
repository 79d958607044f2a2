"""Two writers racing for one tenant: resume and the live feed follow commit order, not id order.

Writer A is a separate process with its own database connection and its own
event writer; writer B is this test process. A mints its event's id, then
holds its transaction open (its ``also_write`` waits for the test's word)
while B mints a later id and commits. So A's event has the earlier id but
commits second: exactly the race in which a resume by id used to miss A.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import orjson
from redis.asyncio import Redis

from relay.core.constants import tenant_stream_key
from tests.conftest import TenantHandle
from tests.stack import RelayStack
from tests.ws.conftest import Publisher
from tests.ws.feed import events_until, open_feed, subscribe

WRITER_A = """
import asyncio, sys
import orjson
from redis.asyncio import Redis
from relay.core.db import close_database, open_database
from relay.core.enums import EventType
from relay.core.events import finish_publishing, publish_event
from webhooks import outbox

async def hold_the_transaction(connection):
    print("holding", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

async def main(database_url, redis_url, tenant_id):
    await open_database(database_url)
    outbox.install()
    redis = Redis.from_url(redis_url)
    envelope = await publish_event(
        redis, tenant_id=tenant_id, session_id=None, type=EventType.MESSAGE_RECEIVED,
        data={"writer": "A"}, also_write=hold_the_transaction,
    )
    await finish_publishing()
    print(orjson.dumps(envelope).decode(), flush=True)
    await redis.aclose()
    await close_database()

asyncio.run(main(*sys.argv[1:]))
"""


async def read_line(process: asyncio.subprocess.Process, timeout: float = 30.0) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    assert line, "writer A exited early"
    return line.decode().strip()


async def test_two_writers_committing_out_of_id_order(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher, relay_env: dict[str, str]
) -> None:
    """Nothing is missed: the resumed socket and ``/v1/events?after=`` both return A after B, and
    the live socket receives exactly [B, A] though A's append reached the stream first."""
    async with await open_feed(stack.ws_url, tenant.api_key) as live:
        await subscribe(live, "*")
        writer_a = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER_A,
            relay_env["DATABASE_URL"],
            relay_env["REDIS_URL"],
            tenant.id,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert await read_line(writer_a) == "holding"
            # B commits while A's transaction is open; its stream append is held back (below).
            [b] = await publisher.envelopes(tenant.id, None, feed=False)
            assert writer_a.stdin is not None
            writer_a.stdin.write(b"go\n")
            await writer_a.stdin.drain()
            a: dict[str, Any] = json.loads(await read_line(writer_a))
            assert await asyncio.wait_for(writer_a.wait(), 30) == 0
        finally:
            if writer_a.returncode is None:
                writer_a.kill()
                await writer_a.wait()

        # The race happened: A's id is older, its commit (and seq) later.
        assert a["id"] < b["id"]
        assert a["seq"] == b["seq"] + 1

        # B's append arrives after A's, as when B's writer is the slower one to reach Redis.
        redis: Redis = publisher.redis
        await redis.xadd(tenant_stream_key(tenant.id), {"e": orjson.dumps(b)})
        assert [e["id"] for e in await events_until(live, a["id"])] == [b["id"], a["id"]]

    # A client that had seen B (the later id) resumes from it and still gets A.
    async with await open_feed(stack.ws_url, tenant.api_key) as resumed:
        await subscribe(resumed, "*", since=b["id"])
        assert [e["id"] for e in await events_until(resumed, a["id"])] == [a["id"]]

    page = (await tenant.client.get("/v1/events", params={"after": b["id"]})).json()["data"]
    assert [e["id"] for e in page] == [a["id"]]
