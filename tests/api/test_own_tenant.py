"""A tenant reads its own quotas and usage; never another's, and the admin has no tenant here."""

from __future__ import annotations

import httpx

from tests.conftest import TenantHandle


async def test_a_tenant_sees_its_own_limits_and_usage(
    admin: httpx.AsyncClient, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    await admin.patch(f"/v1/tenants/{tenant.id}", json={"max_sessions": 2, "max_messages_per_day": 100})
    created = await tenant.client.post(
        "/v1/sessions", json={"name": "shop", "engine": "sandbox", "start": False}
    )
    assert created.status_code == 201

    own = await tenant.client.get("/v1/tenant")
    assert own.status_code == 200
    body = own.json()
    assert (body["id"], body["max_sessions"], body["max_messages_per_day"], body["max_webhooks"]) == (
        tenant.id,
        2,
        100,
        None,
    )
    assert body["usage"] == {"sessions": 1, "messages_today": 0, "webhooks": 0}
    assert body == (await admin.get(f"/v1/tenants/{tenant.id}")).json()

    other = (await other_tenant.client.get("/v1/tenant")).json()
    assert (other["id"], other["max_sessions"], other["usage"]["sessions"]) == (other_tenant.id, None, 0)


async def test_the_admin_token_and_no_token_are_refused(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    refused = await admin.get("/v1/tenant")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await anonymous.get("/v1/tenant")).status_code == 401
