"""Redis dies under a running Relay: the routes that need it answer 503, the others keep working.

A private Valkey with an append-only file is killed (SIGKILL) while ``relay serve`` and
``relay worker`` keep running, and started again on the same port and data; the web process is
never restarted (the worker is replaced after the outage: its own recovery is not this test's
subject).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from relay.core.problems import Dependency
from tests.api.flows import assert_problem
from tests.helpers import wait_until
from tests.outages.api_stacks import (
    CALL_TIMEOUT,
    Tenancy,
    assert_covers_every_route,
    assert_unavailable,
    declared_needs,
    outage_stack,
    the_inbound_message_reached_the_ledger,
    wait_ready,
)


async def test_routes_that_need_redis_answer_503_the_others_work_and_all_recover(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    """Proof nothing is lost: a message accepted while Redis was down (202, stored) is sent once it
    is back, and every call made after the restart succeeds on the same data.
    """
    async with outage_stack(relay_env, tmp_path) as stack:
        tenancy = Tenancy(stack.admin)
        await tenancy.create(stack.relay.base_url)
        try:
            await tenancy.prepare()
            calls = tenancy.route_calls()
            assert_covers_every_route(calls)
            needs = declared_needs()

            stack.valkey.kill()
            accepted_while_down: list[str] = []
            for call, response in await tenancy.call_all():
                if Dependency.REDIS in needs[(call.method, call.route)]:
                    assert_unavailable(response, Dependency.REDIS)
                    continue
                assert response.status_code in call.ok, (call.method, call.path, response.text)
                if call.route.endswith("/messages") and call.method == "POST":
                    accepted_while_down.append(response.json()["id"])
            async with httpx.AsyncClient(base_url=stack.relay.base_url, timeout=CALL_TIMEOUT) as anonymous:
                ready = await anonymous.get("/readyz")
                problem = assert_problem(ready, 503)
                assert "redis" in problem["detail"] and "database" not in problem["detail"]

            stack.valkey.start()
            await wait_ready(stack.admin)
            stack.replace_workers()
            await tenancy.prepare()
            for call, response in await tenancy.call_all():
                assert response.status_code in call.ok, (call.method, call.path, response.text)

            (message_id,) = accepted_while_down

            async def sent() -> bool:
                message = await tenancy.client.get(f"/v1/messages/{message_id}")
                return bool(message.json()["status"] == "sent")

            # The worker's send queue finds it at its next look (it polls every second when connected).
            await wait_until(sent, timeout=20, what="the message accepted while Redis was down to be sent")
            await the_inbound_message_reached_the_ledger(tenancy)
        finally:
            await tenancy.close()
