"""The admin caps what a tenant may create; past a cap the tenant gets a 429 and nothing is created."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.sessions import connected_sandbox_session

QUOTA_EXCEEDED = "https://relay.dev/problems/quota-exceeded"
TEXT = {"to": "4915112345678", "type": "text", "text": "hi"}


async def set_quotas(admin: httpx.AsyncClient, tenant_id: str, **quotas: int | None) -> dict[str, Any]:
    response = await admin.patch(f"/v1/tenants/{tenant_id}", json=quotas)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_quota_exceeded(response: httpx.Response, quota: str, limit: int) -> dict[str, Any]:
    body = assert_problem(response, 429)
    assert body["type"] == QUOTA_EXCEEDED and body["quota"] == quota and body["limit"] == limit, body
    assert quota in body["detail"]
    return body


async def usage(admin: httpx.AsyncClient, tenant_id: str) -> dict[str, int]:
    tenant = (await admin.get(f"/v1/tenants/{tenant_id}")).raise_for_status().json()
    counts: dict[str, int] = tenant["usage"]
    return counts


async def test_new_tenants_are_unlimited_and_show_their_usage(
    admin: httpx.AsyncClient, tenant: TenantHandle
) -> None:
    shown = (await admin.get(f"/v1/tenants/{tenant.id}")).json()
    assert shown["max_sessions"] is None and shown["max_messages_per_day"] is None
    assert shown["max_webhooks"] is None
    assert shown["usage"] == {"sessions": 0, "messages_today": 0, "webhooks": 0}

    await create_session(tenant.client)
    assert (await usage(admin, tenant.id))["sessions"] == 1


async def test_a_second_session_past_max_sessions_is_refused_and_leaves_no_row(
    admin: httpx.AsyncClient, tenant: TenantHandle
) -> None:
    changed = await set_quotas(admin, tenant.id, max_sessions=1)
    assert changed["max_sessions"] == 1 and changed["usage"]["sessions"] == 0
    first = await create_session(tenant.client, name="first")

    refused = await tenant.client.post("/v1/sessions", json={"name": "second", "engine": "sandbox"})
    body = assert_quota_exceeded(refused, "max_sessions", 1)
    assert "Retry-After" not in refused.headers and "errors" not in body

    listed = (await tenant.client.get("/v1/sessions")).json()["data"]
    assert [session["id"] for session in listed] == [first["id"]]
    assert (await usage(admin, tenant.id))["sessions"] == 1

    # A deleted session frees its place; null lifts the limit.
    assert (await tenant.client.delete(f"/v1/sessions/{first['id']}")).status_code == 204
    await create_session(tenant.client, name="second")
    await set_quotas(admin, tenant.id, max_sessions=None)
    await create_session(tenant.client, name="third")
    assert (await usage(admin, tenant.id))["sessions"] == 2


async def test_racing_creates_never_pass_the_limit(admin: httpx.AsyncClient, tenant: TenantHandle) -> None:
    await set_quotas(admin, tenant.id, max_sessions=3)
    answers = await asyncio.gather(
        *(
            tenant.client.post("/v1/sessions", json={"name": f"s{n}", "engine": "sandbox", "start": False})
            for n in range(10)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [201] * 3 + [429] * 7
    assert len((await tenant.client.get("/v1/sessions")).json()["data"]) == 3


async def test_webhooks_past_max_webhooks_are_refused(admin: httpx.AsyncClient, tenant: TenantHandle) -> None:
    await set_quotas(admin, tenant.id, max_webhooks=2)
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["*"]}
    for _ in range(2):
        assert (await tenant.client.post("/v1/webhooks", json=hook)).status_code == 201
    assert_quota_exceeded(await tenant.client.post("/v1/webhooks", json=hook), "max_webhooks", 2)
    assert len((await tenant.client.get("/v1/webhooks")).json()["data"]) == 2
    assert (await usage(admin, tenant.id))["webhooks"] == 2


async def test_messages_past_the_daily_quota_are_refused_until_midnight_utc(
    admin: httpx.AsyncClient, tenant: TenantHandle
) -> None:
    session = await connected_sandbox_session(tenant.client)
    path = f"/v1/sessions/{session['id']}/messages"
    await set_quotas(admin, tenant.id, max_messages_per_day=2)
    for _ in range(2):
        assert (await tenant.client.post(path, json=TEXT)).status_code in (201, 202)

    refused = await tenant.client.post(path, json=TEXT)
    assert_quota_exceeded(refused, "max_messages_per_day", 2)
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400

    assert len((await tenant.client.get(f"{path}")).json()["data"]) == 2
    assert (await usage(admin, tenant.id))["messages_today"] == 2
    # A lower limit than what was used refuses further sends; it removes nothing.
    await set_quotas(admin, tenant.id, max_messages_per_day=1)
    assert_quota_exceeded(await tenant.client.post(path, json=TEXT), "max_messages_per_day", 1)
    await set_quotas(admin, tenant.id, max_messages_per_day=3)
    assert (await tenant.client.post(path, json=TEXT)).status_code in (201, 202)


async def test_an_idempotent_retry_past_the_quota_returns_the_earlier_message(
    admin: httpx.AsyncClient, tenant: TenantHandle
) -> None:
    session = await connected_sandbox_session(tenant.client)
    path = f"/v1/sessions/{session['id']}/messages"
    await set_quotas(admin, tenant.id, max_messages_per_day=1)
    headers = {"Idempotency-Key": "order-1"}
    first = await tenant.client.post(path, json=TEXT, headers=headers)
    assert first.status_code in (201, 202)
    again = await tenant.client.post(path, json=TEXT, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


async def test_tenants_never_count_or_see_each_others_usage(
    admin: httpx.AsyncClient, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    await set_quotas(admin, tenant.id, max_sessions=1, max_webhooks=1)
    for n in range(2):
        await create_session(other_tenant.client, name=f"other{n}")
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["*"]}
    assert (await other_tenant.client.post("/v1/webhooks", json=hook)).status_code == 201

    # The other tenant's rows use none of this tenant's places.
    await create_session(tenant.client)
    assert (await tenant.client.post("/v1/webhooks", json=hook)).status_code == 201
    assert await usage(admin, tenant.id) == {"sessions": 1, "messages_today": 0, "webhooks": 1}
    assert await usage(admin, other_tenant.id) == {"sessions": 2, "messages_today": 0, "webhooks": 1}

    # Quotas and usage are the admin's to read: a tenant's key reads neither its own nor another's.
    for tenant_id in (tenant.id, other_tenant.id):
        assert_problem(await tenant.client.get(f"/v1/tenants/{tenant_id}"), 403)
        assert_problem(await tenant.client.patch(f"/v1/tenants/{tenant_id}", json={"max_sessions": 9}), 403)


async def test_bad_quota_values_are_refused_without_change(
    admin: httpx.AsyncClient, tenant: TenantHandle
) -> None:
    await set_quotas(admin, tenant.id, max_sessions=4)
    for bad in ({"max_sessions": -1}, {"max_webhooks": "3"}, {"max_messages_per_day": 1.5}, {"max_users": 1}):
        assert_problem(await admin.patch(f"/v1/tenants/{tenant.id}", json=bad), 422)
    shown = (await admin.get(f"/v1/tenants/{tenant.id}")).json()
    assert shown["max_sessions"] == 4 and shown["max_webhooks"] is None
    assert_problem(
        await admin.patch("/v1/tenants/ten_01HZZZZZZZZZZZZZZZZZZZZZZZ", json={"max_sessions": 1}), 404
    )
    renamed = await set_quotas(admin, tenant.id, name="renamed")
    assert renamed["name"] == "renamed" and renamed["max_sessions"] == 4
