"""Several worker processes on one Redis: exclusive ownership, takeover after kill -9 and shutdown."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable

import redis.asyncio as aioredis

from relay.core.constants import session_lease_key
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of, session_status, wait_for_status
from tests.stack import RelayStack

SESSIONS = 6


def claims_in_logs(stack: RelayStack) -> dict[str, int]:
    """How many times each session was claimed, across every worker log of the run."""
    counts: dict[str, int] = {}
    for path in stack.log_dir.glob("*worker.log"):
        for session_id in re.findall(r"claimed session (ses_\w+)", path.read_text(errors="replace")):
            counts[session_id] = counts.get(session_id, 0) + 1
    return counts


async def owners(redis_url: str, session_ids: list[str]) -> dict[str, str | None]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        values = await client.mget([session_lease_key(sid) for sid in session_ids])
    finally:
        await client.aclose()
    return dict(zip(session_ids, values, strict=True))


def pid_of(owner: str) -> int:
    # A lease value is "<worker id>:<fencing token>", a worker id "<host>:<pid>:<random>".
    return int(owner.split(":")[-3])


async def test_sessions_are_owned_once_and_taken_over_after_kill_and_shutdown(
    stack: RelayStack, tenant: TenantHandle, redis_url: str, extra_workers: Callable[[int], None]
) -> None:
    extra_workers(2)
    sessions = [await connected_sandbox_session(tenant.client, f"s{n}") for n in range(SESSIONS)]
    ids = [s["id"] for s in sessions]

    lease_owners = await owners(redis_url, ids)
    assert all(lease_owners.values()), lease_owners
    claims = claims_in_logs(stack)
    assert all(claims.get(sid) == 1 for sid in ids), claims

    # kill -9 the worker that owns the first session: its sessions move once the TTL (3 s) expires.
    victim_pid = pid_of(lease_owners[ids[0]])  # type: ignore[arg-type]
    victim = next(p for p in [*stack.workers] if p.pid == victim_pid)
    orphaned = [sid for sid, owner in lease_owners.items() if owner and pid_of(owner) == victim_pid]
    stack.kill(victim)

    async def taken_over() -> bool:
        now = await owners(redis_url, orphaned)
        return all(owner and pid_of(owner) != victim_pid for owner in now.values())

    await wait_until(taken_over, timeout=20, what="orphaned sessions to get a new owner")
    for sid in orphaned:
        session = await wait_for_status(tenant.client, sid, "connected")
        assert session["jid"], "resumed without a new scan"
    # The new owner resumed from stored credentials: no QR was shown again.
    for sid in orphaned:
        statuses = [e["data"]["status"] for e in await events_of(tenant.client, sid, "session.status")]
        assert "qr" not in statuses[statuses.index("connected") :]

    # Graceful shutdown releases leases at once: takeover well before a TTL would expire.
    lease_owners = await owners(redis_url, ids)
    leaving_pid = pid_of(next(o for o in lease_owners.values() if o))
    leaving = next(p for p in stack.workers if p.pid == leaving_pid)
    released = [sid for sid, owner in lease_owners.items() if owner and pid_of(owner) == leaving_pid]
    stack.kill(leaving, signal.SIGTERM)
    assert leaving.returncode == 0

    async def moved() -> bool:
        now = await owners(redis_url, released)
        return all(owner and pid_of(owner) != leaving_pid for owner in now.values())

    await wait_until(moved, timeout=10, what="released sessions to move")
    for sid in released:
        await wait_for_status(tenant.client, sid, "connected")

    # Every session still has exactly one owner, and it is a live worker.
    live = {p.pid for p in stack.workers if p.poll() is None}
    final = await owners(redis_url, ids)
    assert all(owner and pid_of(owner) in live for owner in final.values()), final


async def test_a_command_sent_while_the_owner_is_frozen_is_handled_by_the_next_owner(
    stack: RelayStack, tenant: TenantHandle, redis_url: str, extra_workers: Callable[[int], None]
) -> None:
    extra_workers(1)
    session = await connected_sandbox_session(tenant.client, "frozen")
    sid = session["id"]
    owner_pid = pid_of((await owners(redis_url, [sid]))[sid])  # type: ignore[arg-type]
    owner = next(p for p in stack.workers if p.pid == owner_pid)
    # Freeze the owner so it cannot read the command, then kill it: the command must survive.
    owner.send_signal(signal.SIGSTOP)
    try:
        accepted = await tenant.client.post(
            f"/v1/sessions/{sid}/sandbox/inbound", json={"from": "15550002222", "text": "while frozen"}
        )
        assert accepted.status_code == 202, accepted.text
        sent = await tenant.client.post(
            f"/v1/sessions/{sid}/messages", json={"to": "15550002222", "type": "text", "text": "queued"}
        )
        # Either the lease (TTL 3 s) expired within the send wait (5 s) and the next owner sent it,
        # or the caller got 202 "queued"; both are accepted commands that must go out.
        assert sent.status_code in (201, 202), sent.text
    finally:
        # Never leave a frozen worker behind in the shared stack, whatever failed above.
        stack.kill(owner)

    async def handled() -> bool:
        received = await events_of(tenant.client, sid, "message.received")
        message = (await tenant.client.get(f"/v1/messages/{sent.json()['id']}")).json()
        return any(e["data"]["text"] == "while frozen" for e in received) and message["status"] == "sent"

    await wait_until(handled, timeout=25, what="the new owner to handle the pending commands")
    assert (await session_status(tenant.client, sid))["status"] == "connected"
