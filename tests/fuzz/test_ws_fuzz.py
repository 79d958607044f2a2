"""The WebSocket feed under hostile input: it answers, it never crosses tenants, its memory stays put.

One web process of its own (so its memory is the fuzz's alone) and a tenant
socket that sends, in a fixed pseudo-random order: malformed JSON, binary
frames, oversize frames, unknown types, NUL and lone-surrogate strings,
subscribe/unsubscribe floods and sends to another tenant's session, while that
other tenant's events are published. Afterwards the process is alive, answers
``/readyz``, a fresh socket works, the fuzzing socket never saw the other
tenant, an oversize frame closed only its own socket, and the web
process's RSS grew by less than ``RSS_GROWTH_BOUND``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from relay.core.constants import WS_MAX_FRAME_BYTES
from relay.core.db import close_database, open_database
from relay.core.enums import EventType
from relay.core.events import publish_event
from tests.conftest import TenantHandle
from tests.stack import RelayStack
from tests.ws.feed import open_feed, subscribe
from webhooks import outbox

SEED = 12
ROUNDS = 1_500
# A subscribe flood: more requests than any buffer or topic set should need to hold.
FLOOD = 2_000
# What the fuzz may add to the web process (a warm-up runs first, so imports and caches are paid;
# measured: about 3 MiB).
RSS_GROWTH_BOUND = 16 * 1024 * 1024
FOREIGN_EVENTS = 50


@pytest.fixture
def own_web(relay_env: dict[str, str], tmp_path: Path) -> Iterator[RelayStack]:
    """A web process for this test alone (no worker: no session runs, sends answer at once)."""
    relay = RelayStack(env=relay_env, log_dir=tmp_path)
    relay.start_web()
    try:
        yield relay
    finally:
        relay.stop_all()


@pytest.fixture
async def events(relay_env: dict[str, str]) -> AsyncIterator[Redis]:
    await open_database(relay_env["DATABASE_URL"])
    outbox.install()
    redis = Redis.from_url(relay_env["REDIS_URL"])
    try:
        yield redis
    finally:
        await redis.aclose()
        await close_database()


def rss_bytes(process_group: int) -> int:
    """Resident memory of every process in the web's process group (uvicorn may fork)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != process_group:
                continue
            status = (entry / "status").read_text()
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def hostile_frames(rng: random.Random, own_session: str, foreign_session: str) -> Iterator[str | bytes]:
    """Every kind of bad frame, interleaved; ``ROUNDS`` of them, then the floods.

    Frames over ``WS_MAX_FRAME_BYTES`` are not among them: the transport closes the
    socket on those (1009), which the test checks on a socket of its own.
    """
    kinds = [
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))),  # binary frames
        lambda: '{"type": "subscribe", "session_id": ' + "[" * rng.randint(1, 5000),  # truncated, deep
        lambda: "[" * rng.randint(1, 20_000),  # nesting deeper than any decoder recurses
        lambda: "x" * rng.randint(1, WS_MAX_FRAME_BYTES),  # large, but under the transport's limit
        lambda: json.dumps({"type": rng.choice(["", "sub", "SEND", "event", "ready", 5, None])}),
        lambda: json.dumps({"type": "subscribe", "session_id": rng.choice(["a\u0000b", "*\u0000", 7])}),
        lambda: '{"type": "subscribe", "session_id": "\\ud800"}',  # a lone surrogate escape
        lambda: json.dumps({"type": "auth", "token": "rk_\u0000" * rng.randint(1, 50)}),
        lambda: json.dumps({"type": "subscribe", "session_id": "ses_" + "Z" * rng.randint(0, 5000)}),
        lambda: json.dumps({"type": "subscribe", "session_id": foreign_session}),
        lambda: json.dumps({"type": "subscribe", "session_id": "*", "since": "evt_" + "x" * 5000}),
        lambda: json.dumps(
            {
                "type": "send",
                "request_id": rng.randint(0, 10**9),
                "session_id": foreign_session,
                "to": "12345678",
                "text": "hi",
            }
        ),
        lambda: json.dumps(
            {
                "type": "send",
                "request_id": "r",
                "session_id": own_session,
                "to": "1234567",
                "text": "a\u0000b",
            }
        ),
        lambda: json.dumps(
            {
                "type": "send",
                "request_id": "r",
                "session_id": own_session,
                "idempotency_key": "\u0000",
                "to": "1234567",
                "text": "x",
            }
        ),
        lambda: json.dumps({"type": "unsubscribe", "session_id": "ses_" + "Q" * rng.randint(0, 5000)}),
        lambda: json.dumps({"type": "ping", "junk": {"deep": ["\u0000"] * 100}}),
    ]
    for _ in range(ROUNDS):
        yield rng.choice(kinds)()
    for index in range(FLOOD):
        target = "*" if index % 3 == 0 else (foreign_session if index % 3 == 1 else own_session)
        yield json.dumps({"type": "subscribe", "session_id": target})
        if index % 2:
            yield json.dumps({"type": "unsubscribe", "session_id": target})
    yield json.dumps({"type": "subscribe", "session_id": "*"})


async def _drain(ws: ClientConnection, frames: list[dict[str, Any]]) -> None:
    """Read everything the server says, so it never waits on us."""
    try:
        async for raw in ws:
            frames.append(json.loads(raw))
    except ConnectionClosed:
        pass


async def _session(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/sessions", json={"name": "fuzz", "engine": "sandbox", "start": False})
    response.raise_for_status()
    return str(response.json()["id"])


async def test_hostile_frames_never_kill_cross_or_bloat(
    own_web: RelayStack, events: Redis, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """The other tenant's events are published in the middle of the fuzz; the fuzzing socket's own
    event published last arrives, and every frame before it is checked for the other tenant."""
    assert own_web.web is not None
    own_session = await _session(tenant.client)
    foreign_session = await _session(other_tenant.client)

    # Warm-up: every code path once, so the bound measures growth, not first-use imports.
    warm = await open_feed(own_web.ws_url, tenant.api_key)
    await subscribe(warm, "*")
    await warm.send(b"\x00")
    await warm.send(
        json.dumps({"type": "send", "request_id": 1, "session_id": own_session, "to": "1234567", "text": "x"})
    )
    await asyncio.sleep(1)
    await warm.close()
    rss_before = rss_bytes(own_web.web.pid)

    ws = await open_feed(own_web.ws_url, tenant.api_key, max_size=None)
    frames: list[dict[str, Any]] = []
    reader = asyncio.create_task(_drain(ws, frames))
    rng = random.Random(SEED)
    sent = 0
    for frame in hostile_frames(rng, own_session, foreign_session):
        await ws.send(frame)
        sent += 1
        if sent == ROUNDS // 2:
            for number in range(FOREIGN_EVENTS):
                await publish_event(
                    events,
                    tenant_id=other_tenant.id,
                    session_id=foreign_session,
                    type=EventType.MESSAGE_RECEIVED,
                    data={"text": f"secret {number}"},
                )
    # Every client frame is answered by exactly one frame: once all are, the final subscribe to * holds.
    for _ in range(1200):
        if sum(1 for f in frames if f.get("type") != "event") >= sent:
            break
        assert not reader.done(), f"the fuzzing socket was closed: {ws.close_code} {ws.close_reason}"
        await asyncio.sleep(0.05)
    assert frames[-1] == {"type": "subscribed", "session_id": "*"}, frames[-3:]
    last = await publish_event(
        events,
        tenant_id=tenant.id,
        session_id=own_session,
        type=EventType.MESSAGE_RECEIVED,
        data={"text": "the end"},
    )
    for _ in range(1200):
        if any(f.get("type") == "event" and f["event"]["id"] == last["id"] for f in frames):
            break
        assert not reader.done(), f"the fuzzing socket was closed: {ws.close_code} {ws.close_reason}"
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"own event never arrived; {len(frames)} frames, the last: {frames[-5:]}")
    await ws.close()
    await reader

    seen_tenants = {f["event"]["tenant_id"] for f in frames if f.get("type") == "event"}
    assert seen_tenants == {tenant.id}
    assert other_tenant.id not in json.dumps(frames)
    assert sum(1 for f in frames if f.get("type") == "error") >= ROUNDS // 2

    # A frame over the limit (RELAY's ws_max_size) closes that socket only, with 1009.
    big = await open_feed(own_web.ws_url, tenant.api_key, max_size=None)
    with pytest.raises(ConnectionClosed) as closed:
        await big.send("x" * (WS_MAX_FRAME_BYTES + 1))
        async with asyncio.timeout(30):
            await big.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    assert own_web.web.poll() is None, "the web process died"
    async with httpx.AsyncClient(base_url=own_web.base_url, timeout=10) as client:
        assert (await client.get("/readyz")).status_code == 200
    fresh = await open_feed(own_web.ws_url, tenant.api_key)
    await subscribe(fresh, "*")
    again = await publish_event(
        events,
        tenant_id=tenant.id,
        session_id=own_session,
        type=EventType.MESSAGE_RECEIVED,
        data={"text": "still here"},
    )
    async with asyncio.timeout(30):
        frame = json.loads(await fresh.recv())
    assert frame["type"] == "event" and frame["event"]["id"] == again["id"]
    await fresh.close()

    rss_after = rss_bytes(own_web.web.pid)
    growth = rss_after - rss_before
    assert growth < RSS_GROWTH_BOUND, f"RSS grew {growth / 2**20:.1f} MiB ({rss_before} -> {rss_after})"
    os.killpg(own_web.web.pid, signal.SIGTERM)
