"""The database goes down under a running Relay: every route answers 503, then everything works again.

A private PostgreSQL cluster is stopped with ``pg_ctl stop -m immediate`` (what a crash looks like
to clients) while ``relay serve`` and ``relay worker`` keep running, and started again on the same
port; Relay is never restarted.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import websockets

from relay.core.problems import Dependency
from tests.api.flows import assert_problem
from tests.outages.api_stacks import (
    CALL_TIMEOUT,
    Tenancy,
    assert_covers_every_route,
    assert_unavailable,
    outage_stack,
    the_inbound_message_reached_the_ledger,
    wait_ready,
)


async def test_every_route_answers_503_while_the_database_is_down_and_works_after(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    """Proof nothing is lost: every call made after the restart succeeds on the same data
    (the session linked before the outage is still connected and its inbound message reaches the ledger).
    """
    async with outage_stack(relay_env, tmp_path) as stack:
        tenancy = Tenancy(stack.admin)
        await tenancy.create(stack.relay.base_url)
        try:
            await tenancy.prepare()
            calls = tenancy.route_calls()
            assert_covers_every_route(calls)
            await _bad_input_is_refused(tenancy.client, tenancy.ids["connected"])

            stack.postgres.stop("immediate")
            for _, response in await tenancy.call_all():
                assert_unavailable(response, Dependency.DATABASE)
            async with httpx.AsyncClient(base_url=stack.relay.base_url, timeout=CALL_TIMEOUT) as anonymous:
                ready = await anonymous.get("/readyz")
                assert "database" in assert_unavailable_probe(ready)["detail"]
                assert "redis" not in ready.json()["detail"]
                assert (await anonymous.get("/healthz")).status_code == 200
                # /metrics still answers: the figures only the database knows sit this scrape out.
                scraped = await anonymous.get("/metrics")
                assert scraped.status_code == 200
                assert "relay_ws_connections " in scraped.text and "relay_sessions{" not in scraped.text
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(
                    f"{stack.relay.ws_url}?token={tenancy.api_key}", open_timeout=CALL_TIMEOUT
                )
            assert refused.value.response.status_code == 503
            assert int(refused.value.response.headers["Retry-After"]) > 0

            stack.postgres.start()
            await wait_ready(stack.admin)
            await tenancy.prepare()
            for call, response in await tenancy.call_all():
                assert response.status_code in call.ok, (call.method, call.path, response.text)
            await _bad_input_is_refused(tenancy.client, tenancy.ids["connected"])
            await the_inbound_message_reached_the_ledger(tenancy)
        finally:
            await tenancy.close()


def assert_unavailable_probe(response: httpx.Response) -> dict[str, object]:
    """``/readyz`` while a dependency is down: a 503 problem with Retry-After that names it."""
    problem = assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0
    return problem


async def _bad_input_is_refused(client: httpx.AsyncClient, session_id: str) -> None:
    """With the database up, bad input is the client's fault (4xx), never a 503."""
    assert_problem(await client.post("/v1/sessions", json={"engine": "sandbox"}), 422, "name")
    assert_problem(await client.get("/v1/sessions/ses_unknown"), 404)
    assert_problem(await client.post("/v1/sessions", content=b"{not json"), 400)
    assert_problem(await client.get("/v1/sessions", headers={"Authorization": "Bearer rk_wrong"}), 401)
    body = {"to": "not a number", "type": "text", "text": "x"}
    assert_problem(await client.post(f"/v1/sessions/{session_id}/messages", json=body), 422, "to")
