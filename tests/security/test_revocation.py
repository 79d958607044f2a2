"""Revoking an API key (or deleting its tenant) cuts the key, its JWTs and their sockets, everywhere.

Two real web processes share the stack's database and Redis: the suite's own
and a second `relay serve`. Revocations are made through one of them; sockets
and JWTs held by the other must be cut too, which only the Redis announcement
can do in time: without it, the other process would notice only at its
periodic recheck (``KEY_CHECK_SECONDS``, 30 s), far beyond the deadline here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from relay.core.models import ApiKey
from relay.web.revocation import KEY_REVOKED, TENANT_DELETED, LiveKeys
from tests.conftest import TenantHandle, create_tenant
from tests.helpers import ws_receive
from tests.stack import RelayStack
from tests.ws.feed import connect, open_feed, send

# The bound: every socket closed and every JWT refused this soon after the DELETE answers.
REVOCATION_DEADLINE = 2.0
REVOKED = 4410


@pytest.fixture(scope="module")
def second_web(relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    """Another web process on the same database and Redis, as behind a load balancer."""
    web = RelayStack(env=relay_env, log_dir=Path(tmp_path_factory.mktemp("second-web-logs")))
    web.start_web()
    try:
        yield web
    finally:
        web.stop_all()


async def mint_jwt(base_url: str, api_key: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        minted = await client.post(
            "/v1/auth/token", json={"ttl_seconds": 3600}, headers={"Authorization": f"Bearer {api_key}"}
        )
    assert minted.status_code == 201, minted.text
    return str(minted.json()["token"])


async def rest_status(base_url: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def first_frame_feed(ws_url: str, token: str) -> ClientConnection:
    """A socket authenticated by its first frame, as browsers that keep tokens out of URLs do."""
    ws = await connect(ws_url)
    assert await ws_receive(ws) == {"type": "auth_required"}
    await send(ws, {"type": "auth", "token": token})
    assert (await ws_receive(ws))["type"] == "ready"
    return ws


async def close_of(ws: ClientConnection, deadline: float) -> tuple[int, str]:
    """The close code and reason the server sends before ``deadline`` (a ``time.monotonic`` value)."""
    try:
        while True:
            frame = await ws_receive(ws, max(0.01, deadline - time.monotonic()))
            assert frame["type"] != "event", frame
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code, closed.rcvd.reason
    except TimeoutError:
        raise AssertionError("the socket was still open at the deadline") from None


async def still_open(ws: ClientConnection) -> bool:
    await send(ws, {"type": "ping"})
    return await ws_receive(ws) == {"type": "pong"}


async def test_revoking_a_key_cuts_its_sockets_and_jwts_in_every_web_process(
    stack: RelayStack, second_web: RelayStack, tenant: TenantHandle, admin: httpx.AsyncClient
) -> None:
    keys = (await admin.get(f"/v1/tenants/{tenant.id}/api-keys")).json()["data"]
    (key_id,) = [key["id"] for key in keys]
    kept_key = (await admin.post(f"/v1/tenants/{tenant.id}/api-keys", json={"name": "kept"})).json()
    token = await mint_jwt(stack.base_url, tenant.api_key)
    # The second web process confirms the key for this JWT first: the announcement must invalidate it.
    assert await rest_status(second_web.base_url, token) == 200
    sockets = [
        await open_feed(stack.ws_url, tenant.api_key),
        await open_feed(second_web.ws_url, tenant.api_key),
        await open_feed(stack.ws_url, token),
        await first_frame_feed(second_web.ws_url, token),
    ]
    unrelated = await open_feed(second_web.ws_url, kept_key["key"])

    revoked = await admin.delete(f"/v1/tenants/{tenant.id}/api-keys/{key_id}")
    assert revoked.status_code == 204
    deadline = time.monotonic() + REVOCATION_DEADLINE
    closes = await asyncio.gather(*(close_of(ws, deadline) for ws in sockets))
    assert closes == [(REVOKED, KEY_REVOKED)] * len(sockets)
    for web in (stack, second_web):
        assert await rest_status(web.base_url, token) == 401
        assert await rest_status(web.base_url, tenant.api_key) == 401
    assert time.monotonic() < deadline
    # The tenant's other key, and what it opened, are untouched.
    assert await still_open(unrelated)
    assert await rest_status(second_web.base_url, kept_key["key"]) == 200
    await unrelated.close()


async def test_deleting_a_tenant_cuts_every_key_of_it(
    stack: RelayStack, second_web: RelayStack, admin: httpx.AsyncClient
) -> None:
    doomed = await create_tenant(stack, admin, "doomed")
    survivor = await create_tenant(stack, admin, "survivor")
    try:
        token = await mint_jwt(second_web.base_url, doomed.api_key)
        assert await rest_status(stack.base_url, token) == 200
        sockets = [await open_feed(second_web.ws_url, doomed.api_key), await open_feed(stack.ws_url, token)]
        bystander = await open_feed(second_web.ws_url, survivor.api_key)

        assert (await admin.delete(f"/v1/tenants/{doomed.id}")).status_code == 204
        deadline = time.monotonic() + REVOCATION_DEADLINE
        closes = await asyncio.gather(*(close_of(ws, deadline) for ws in sockets))
        assert closes == [(REVOKED, TENANT_DELETED)] * len(sockets)
        for web in (stack, second_web):
            assert await rest_status(web.base_url, token) == 401
        assert time.monotonic() < deadline
        assert await still_open(bystander)
        await bystander.close()
    finally:
        await doomed.client.aclose()
        await survivor.client.aclose()


async def test_a_jwt_minted_before_key_id_existed_dies_with_its_key(
    stack: RelayStack, relay_env: dict[str, str], admin: httpx.AsyncClient
) -> None:
    """Older tokens name their key only as ``sub``; they are cut all the same."""
    tenant = await create_tenant(stack, admin, "legacy")
    try:
        (key,) = (await admin.get(f"/v1/tenants/{tenant.id}/api-keys")).json()["data"]
        claims = {
            "sub": key["id"],
            "tenant_id": tenant.id,
            "role": "tenant",
            "exp": datetime.now(UTC) + timedelta(hours=1),
        }
        legacy = jwt.encode(claims, relay_env["RELAY_JWT_SECRET"], algorithm="HS256")
        assert await rest_status(stack.base_url, legacy) == 200
        ws = await open_feed(stack.ws_url, legacy)
        assert (await admin.delete(f"/v1/tenants/{tenant.id}/api-keys/{key['id']}")).status_code == 204
        assert await close_of(ws, time.monotonic() + REVOCATION_DEADLINE) == (REVOKED, KEY_REVOKED)
        assert await rest_status(stack.base_url, legacy) == 401
    finally:
        await tenant.client.aclose()


class RecordedSocket:
    """Stands for a feed socket in-process: records why it was cut."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def revoke(self, reason: str) -> None:
        self.reasons.append(reason)


async def test_a_lost_announcement_is_caught_by_the_recheck(
    ledger: object, stack: RelayStack, admin: httpx.AsyncClient
) -> None:
    """A key deleted with no announcement (Redis was down) still cuts its sockets at the next recheck.

    ``ledger`` opens the stack's database in this process; the key is deleted
    behind the web processes' back, as if the announcement had been lost.
    """
    tenant = await create_tenant(stack, admin, "unannounced")
    try:
        (key,) = (await admin.get(f"/v1/tenants/{tenant.id}/api-keys")).json()["data"]
        live = LiveKeys()
        socket, other = RecordedSocket(), RecordedSocket()
        seen = live.generation
        assert await live.is_live(key["id"], tenant.id)
        await live.watch(socket, key_id=key["id"], tenant_id=tenant.id, since_generation=seen)
        await live.watch(other, key_id="key_elsewhere", tenant_id="ten_elsewhere", since_generation=seen)
        await ApiKey.filter(id=key["id"]).delete()
        # Still confirmed from memory until the recheck: that is the window the announcement closes.
        assert await live.is_live(key["id"], tenant.id)
        assert await live.recheck() == 2  # key_elsewhere never existed either
        assert socket.reasons == [KEY_REVOKED] and not await live.is_live(key["id"], tenant.id)

        # A socket whose key went while it was being authenticated is cut as it is watched.
        late = RecordedSocket()
        await live.watch(late, key_id=key["id"], tenant_id=tenant.id, since_generation=seen)
        assert late.reasons == [KEY_REVOKED]
    finally:
        await tenant.client.aclose()
