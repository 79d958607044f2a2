"""Engine hosts under a real `relay up`: a newcomer's stack, WhatsApp sessions dialling through their proxy.

Each WhatsApp session is created through the API with ``"proxy"``: a loopback server that
records the core's ``CONNECT web.whatsapp.com:443`` and refuses it (``RELAY_PROXY_ALLOW_PRIVATE``
admits a loopback proxy). Each session's proxy user is its name, so the proxy tells their dials apart.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engines.processes import engine_host_pids, tree_usage
from tests.helpers import create_tenant_key, wait_until
from tests.proxies import RefusingProxy
from tests.sessions import connected_sandbox_session, events_of, session_status, wait_for_status
from tests.test_relay_up import RelayUp, relay_up  # noqa: F401  # the fixture, used by name
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.timeout(300)

PASSWORD = "hunter2-proxy"
# The proxy answers the core's CONNECT with 403 Forbidden; the reason quotes its status text.
REFUSED = "Forbidden"
KILLED = "engine host exited: signal SIGKILL"
# Every session's proxy is loopback.
PROXY_SETTINGS = {"RELAY_PROXY_ALLOW_PRIVATE": "true"}


@asynccontextmanager
async def tenant_client(up: RelayUp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=up.base_url, timeout=30) as client:
        key = await create_tenant_key(client, "t", admin_token=up.admin_token())
        client.headers.update(key.headers)
        yield client


async def start_whatsapp_sessions(client: httpx.AsyncClient, proxy: RefusingProxy, count: int) -> list[str]:
    """``count`` sessions named w0, w1, … each with its own credentials on ``proxy``."""
    ids = []
    for n in range(count):
        body = {"name": f"w{n}", "engine": "whatsapp", "proxy": proxy.url(user=f"w{n}", password=PASSWORD)}
        created = await client.post("/v1/sessions", json=body)
        assert created.status_code == 201, created.text
        assert PASSWORD not in created.text  # the API shows the proxy masked
        ids.append(created.json()["id"])
    return ids


def loads_the_go_core(pid: int) -> bool:
    return "neonize-linux" in Path(f"/proc/{pid}/maps").read_text()


def refused(event: dict[str, Any]) -> bool:
    return event["data"]["status"] == "reconnecting" and REFUSED in (event["data"]["reason"] or "")


async def dialled_since(client: httpx.AsyncClient, session_id: str, since: Any) -> bool:
    """The session's ledger has a refused dial after the last status ``since`` accepts."""
    statuses = await events_of(client, session_id, "session.status")
    marks = [i for i, event in enumerate(statuses) if since(event["data"])]
    after = statuses[marks[-1] + 1 :] if marks else statuses
    return any(refused(event) for event in after)


async def all_dialled_since(client: httpx.AsyncClient, ids: list[str], since: Any = lambda _: False) -> bool:
    return all([await dialled_since(client, session_id, since) for session_id in ids])


async def reasons_show_the_refusal(client: httpx.AsyncClient, ids: list[str]) -> bool:
    """Each session's current reason is its proxy's refusal (the retries dial the proxy too)."""
    sessions = [await session_status(client, session_id) for session_id in ids]
    return all(s["status"] == "reconnecting" and REFUSED in (s["reason"] or "") for s in sessions)


async def test_killing_every_engine_host_leaves_the_worker_and_its_sandbox_session_alone(
    relay_up: RelayUp,  # noqa: F811
) -> None:
    async with RefusingProxy() as proxy:
        # A minute-long lease: sessions that dial again within seconds did not wait for one.
        relay_up.settings.update(
            {
                **PROXY_SETTINGS,
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
            ids = await start_whatsapp_sessions(client, proxy, 3)
            await wait_until(lambda: all_dialled_since(client, ids), timeout=60, what="three refused dials")
            await wait_until(lambda: reasons_show_the_refusal(client, ids), timeout=30, what="the refusals")
            worker = relay_up.role_pid("worker")
            hosts = engine_host_pids(worker)
            assert len(hosts) == 2, hosts  # two sessions per host
            # The Go core is loaded in the hosts, never in the worker.
            assert not loads_the_go_core(worker)
            assert all(loads_the_go_core(pid) for pid in hosts)
            seen = len(proxy.requests)

            for pid in hosts:
                os.kill(pid, signal.SIGKILL)

            async def dialled_again() -> bool:
                # Each session's proxy user is its name: every one of them dialled from a new host.
                return {r.user for r in proxy.requests[seen:] if r.line.startswith("CONNECT ")} >= {
                    "w0",
                    "w1",
                    "w2",
                }

            await wait_until(dialled_again, timeout=10, what="every whatsapp session to dial again")
            assert relay_up.role_pid("worker") == worker  # the worker lived through it
            replacements = engine_host_pids(worker)
            assert replacements and not set(replacements) & set(hosts)
            # In each ledger: the kill, then a dial refused by the session's proxy.
            for session_id in ids:
                reasons = [e["data"]["reason"] for e in await events_of(client, session_id, "session.status")]
                assert KILLED in reasons, reasons

            async def refused_after_the_kill() -> bool:
                return await all_dialled_since(client, ids, lambda data: data["reason"] == KILLED)

            await wait_until(refused_after_the_kill, timeout=30, what="refused dials after the kill")
            await wait_until(lambda: reasons_show_the_refusal(client, ids), timeout=30, what="the refusals")

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
    # The proxy's password crossed to the hosts in each call's context, and nowhere into a log.
    assert proxy.requests[0].authorization is not None
    assert PASSWORD not in relay_up.printed()


async def test_sixty_lifecycles_leave_the_process_tree_as_it_was(relay_up: RelayUp) -> None:  # noqa: F811
    """10 sessions stopped and started 6 times; the tree is measured with every session stopped.

    Each dial goes through the session's refusing proxy into the Go core, which leaks a store per
    call: a host is retired here past 10 calls (300 by default), so the host that carries the 10
    sessions is retired once they have dialled and exits once they are stopped. Before and after,
    the tree is Valkey, the web and the worker, and its growth is theirs.

    Each cycle stops the sessions right after their first dials. Waiting for backoff retries
    too leaves no such point: every retry also reaches the core (the pre-check only sees that
    the proxy answers), each move to a new host restarts a session's backoff, so under a low
    limit hosts keep being retired while the sessions run, and a stop that lands mid-move
    leaves a host below its limit alive. The host-kill test above runs through retries.
    """
    async with RefusingProxy() as proxy:
        relay_up.settings.update(
            {**PROXY_SETTINGS, "RELAY_ENGINE_HOST_SESSIONS": "10", "RELAY_ENGINE_HOST_MAX_CONNECTS": "10"}
        )
        relay_up.start()
        async with tenant_client(relay_up) as client:
            ids = await start_whatsapp_sessions(client, proxy, 10)
            await wait_until(lambda: dials_each(proxy, 0, 1), timeout=60, what="ten refused dials")
            await stop_all(client, ids)
            assert await all_dialled_since(client, ids)
            worker = relay_up.role_pid("worker")
            await settled(proxy, worker)
            before = tree_usage(relay_up.tree_pids())

            for cycle in range(1, 7):
                seen = len(proxy.requests)
                for session_id in ids:
                    assert (await client.post(f"/v1/sessions/{session_id}/start")).status_code == 202
                await wait_until(
                    lambda since=seen: dials_each(proxy, since, 1), timeout=90, what="ten dials again"
                )
                await stop_all(client, ids)
                # Each lifecycle's engine reported its own refused dial before the stop.
                for session_id in ids:
                    statuses = await events_of(client, session_id, "session.status")
                    assert sum(refused(e) for e in statuses) >= cycle + 1, statuses
            await settled(proxy, worker)
            after = tree_usage(relay_up.tree_pids())
            assert proxy.connects >= 70
        assert after[0] - before[0] <= 20, (before, after)
        assert after[1] - before[1] <= 60 * 1024, (before, after)
        assert relay_up.stop() == 0
    assert PASSWORD not in relay_up.printed()


async def dials_each(proxy: RefusingProxy, since: int, times: int) -> bool:
    """Every session (w0…w9) has dialled WhatsApp through ``proxy`` ``times`` since request ``since``."""
    users = Counter(r.user for r in proxy.requests[since:] if r.line.startswith("CONNECT "))
    return all(users[f"w{n}"] >= times for n in range(10))


async def stop_all(client: httpx.AsyncClient, ids: list[str]) -> None:
    for session_id in ids:
        assert (await client.post(f"/v1/sessions/{session_id}/stop")).status_code == 202
    for session_id in ids:
        await wait_for_status(client, session_id, "stopped", timeout=60)


async def settled(proxy: RefusingProxy, worker: int) -> None:
    """Every host retired and gone (each passed its connect limit) and no dial for a while."""

    async def quiet() -> bool:
        seen = proxy.connects
        if engine_host_pids(worker):
            return False
        await asyncio.sleep(3)
        return proxy.connects == seen and not engine_host_pids(worker)

    await wait_until(quiet, timeout=120, what="the engine hosts to be retired")
