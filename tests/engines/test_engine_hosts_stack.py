"""Engine hosts under a real `relay up`: a newcomer's stack, WhatsApp clients dialling a refusing proxy."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.engines.processes import engine_host_pids, tree_usage
from tests.engines.refusing_proxy import RefusingProxy, refusing_proxy
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of, session_status, wait_for_status
from tests.test_relay_up import RelayUp, relay_up  # noqa: F401  # the fixture, used by name
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver
from workers.engines.host.constants import PROXY_ENV

pytestmark = pytest.mark.timeout(300)


@asynccontextmanager
async def tenant_client(up: RelayUp) -> AsyncIterator[httpx.AsyncClient]:
    admin = {"Authorization": f"Bearer {up.admin_token()}"}
    async with httpx.AsyncClient(base_url=up.base_url, timeout=30) as client:
        tenant = (await client.post("/v1/tenants", json={"name": "t"}, headers=admin)).json()
        key = (await client.post(f"/v1/tenants/{tenant['id']}/api-keys", json={}, headers=admin)).json()
        client.headers["Authorization"] = f"Bearer {key['key']}"
        yield client


async def start_whatsapp_sessions(client: httpx.AsyncClient, count: int) -> list[str]:
    ids = []
    for n in range(count):
        created = await client.post("/v1/sessions", json={"name": f"w{n}", "engine": "whatsapp"})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


def loads_the_go_core(pid: int) -> bool:
    return "neonize-linux" in Path(f"/proc/{pid}/maps").read_text()


async def all_dialled(client: httpx.AsyncClient, ids: list[str], times: int = 1) -> bool:
    """Every session has reported the refused dial ``times`` (the Go core went through the proxy).

    Its ledger, not its current status: a second later the retry's reachability check
    (no DNS here) has replaced the reason.
    """
    for session_id in ids:
        statuses = await events_of(client, session_id, "session.status")
        if sum("Bad Gateway" in (e["data"]["reason"] or "") for e in statuses) < times:
            return False
    return True


async def test_killing_every_engine_host_leaves_the_worker_and_its_sandbox_session_alone(
    relay_up: RelayUp,  # noqa: F811
) -> None:
    async with refusing_proxy() as proxy:
        # A minute-long lease: sessions that dial again within seconds did not wait for one.
        relay_up.settings.update(
            {
                PROXY_ENV: proxy.url,
                "RELAY_ENGINE_HOST_SESSIONS": "2",
                "RELAY_LEASE_TTL": "60",
                "RELAY_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on loopback
            }
        )
        relay_up.start()
        receiver = Receiver()
        await receiver.start()
        async with tenant_client(relay_up) as client:
            sandbox = await connected_sandbox_session(client)
            await create_endpoint(client, receiver.url("hook"), session_ids=[sandbox["id"]])
            ids = await start_whatsapp_sessions(client, 3)
            await wait_until(lambda: all_dialled(client, ids), timeout=60, what="three refused dials")
            worker = relay_up.role_pid("worker")
            hosts = engine_host_pids(worker)
            assert len(hosts) == 2, hosts  # two sessions per host
            # The Go core is loaded in the hosts, never in the worker.
            assert not loads_the_go_core(worker)
            assert all(loads_the_go_core(pid) for pid in hosts)
            dials = proxy.connects

            for pid in hosts:
                os.kill(pid, signal.SIGKILL)

            async def dialled_again() -> bool:
                return proxy.connects >= dials + 3

            await wait_until(dialled_again, timeout=10, what="every whatsapp session to dial again")
            assert relay_up.role_pid("worker") == worker  # the worker lived through it
            replacements = engine_host_pids(worker)
            assert replacements and not set(replacements) & set(hosts)
            for session_id in ids:
                reasons = [e["data"]["reason"] for e in await events_of(client, session_id, "session.status")]
                assert "engine host exited: signal SIGKILL" in reasons, reasons

            # The sandbox session never noticed: still connected, and it takes a message.
            assert (await session_status(client, sandbox["id"]))["status"] == "connected"
            statuses = [e["data"]["status"] for e in await events_of(client, sandbox["id"], "session.status")]
            assert statuses[-1] == "connected" and "reconnecting" not in statuses, statuses
            message = {"from": "15550004444", "text": "still here"}
            inbound = await client.post(f"/v1/sessions/{sandbox['id']}/sandbox/inbound", json=message)
            assert inbound.status_code == 202, inbound.text

            async def received() -> bool:
                events = await events_of(client, sandbox["id"], "message.received")
                return any(e["data"]["text"] == "still here" for e in events)

            await wait_until(received, timeout=20, what="the sandbox message in the ledger")

            # And the worker's webhook delivery carried on: the message reaches the endpoint.
            async def delivered() -> bool:
                return any(b"still here" in hit.body for hit in receiver.at("hook"))

            await wait_until(delivered, timeout=20, what="the webhook with the sandbox message")
        await receiver.stop()
        assert relay_up.stop() == 0


async def test_sixty_lifecycles_leave_the_process_tree_as_it_was(relay_up: RelayUp) -> None:  # noqa: F811
    """10 sessions stopped and started 6 times; hosts are recycled past 15 connects here (300 by default)."""
    async with refusing_proxy() as proxy:
        relay_up.settings.update(
            {PROXY_ENV: proxy.url, "RELAY_ENGINE_HOST_SESSIONS": "10", "RELAY_ENGINE_HOST_MAX_CONNECTS": "15"}
        )
        relay_up.start()
        async with tenant_client(relay_up) as client:
            ids = await start_whatsapp_sessions(client, 10)
            await wait_until(lambda: all_dialled(client, ids), timeout=60, what="ten refused dials")
            worker = relay_up.role_pid("worker")
            await settled(proxy, worker)
            before = tree_usage(relay_up.tree_pids())

            for cycle in range(1, 7):
                for session_id in ids:
                    assert (await client.post(f"/v1/sessions/{session_id}/stop")).status_code == 202
                for session_id in ids:
                    await wait_for_status(client, session_id, "stopped", timeout=60)
                for session_id in ids:
                    assert (await client.post(f"/v1/sessions/{session_id}/start")).status_code == 202

                async def restarted(times: int = cycle + 1) -> bool:
                    return await all_dialled(client, ids, times)

                await wait_until(restarted, timeout=90, what="ten sessions to dial again")
            await settled(proxy, worker)
            after = tree_usage(relay_up.tree_pids())
            assert proxy.connects >= 70
        assert after[0] - before[0] <= 20, (before, after)
        assert after[1] - before[1] <= 60 * 1024, (before, after)
        assert relay_up.stop() == 0


async def settled(proxy: RefusingProxy, worker: int) -> None:
    """One host left (a retired one has moved its sessions and exited) and no dial for a while."""

    async def quiet() -> bool:
        seen = proxy.connects
        if len(engine_host_pids(worker)) != 1:
            return False
        await asyncio.sleep(3)
        return proxy.connects == seen and len(engine_host_pids(worker)) == 1

    await wait_until(quiet, timeout=120, what="the engine hosts to settle")
