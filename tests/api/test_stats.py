"""GET /v1/stats: a tenant's own counts, or the cluster's for the admin; never another tenant's."""

from __future__ import annotations

import httpx

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.sessions import connected_sandbox_session


async def test_a_tenant_counts_its_own_and_the_admin_everyones(
    admin: httpx.AsyncClient, tenant: TenantHandle, other_tenant: TenantHandle, anonymous: httpx.AsyncClient
) -> None:
    before = (await admin.get("/v1/stats")).json()
    session = await connected_sandbox_session(tenant.client)
    await create_session(tenant.client, start=False)
    await create_session(other_tenant.client, start=False)
    sent = await tenant.client.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": "15557654321", "type": "text", "text": "hi"}
    )
    assert sent.status_code == 201
    hook = await tenant.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/none", "events": ["*"]})
    assert hook.status_code == 201

    own = await tenant.client.get("/v1/stats")
    assert own.status_code == 200, own.text
    counts = own.json()
    assert counts["scope"] == "tenant"
    assert counts["sessions"] == {
        "starting": 0, "qr": 0, "pairing": 0, "connected": 1,
        "reconnecting": 0, "logged_out": 0, "failed": 0, "stopped": 1,
    }  # fmt: skip
    assert counts["messages_sent_today"] == 1
    assert counts["webhooks"]["endpoints"] == 1
    assert counts["webhooks"]["deliveries_pending"] >= 0 and counts["webhooks"]["oldest_pending_seconds"] >= 0
    # The other tenant's session is not in its counts, nor is the first tenant's in the other's.
    theirs = (await other_tenant.client.get("/v1/stats")).json()
    assert sum(theirs["sessions"].values()) == 1 and theirs["messages_sent_today"] == 0

    cluster = (await admin.get("/v1/stats")).json()
    assert cluster["scope"] == "cluster"
    grown = {s: cluster["sessions"][s] - before["sessions"][s] for s in cluster["sessions"]}
    assert grown["connected"] >= 1 and grown["stopped"] >= 2
    assert cluster["messages_sent_today"] >= before["messages_sent_today"] + 1
    assert cluster["webhooks"]["endpoints"] >= before["webhooks"]["endpoints"] + 1

    assert_problem(await anonymous.get("/v1/stats"), 401)
