"""The admin manages tenants and their API keys."""

from __future__ import annotations

import httpx

from tests.api.flows import assert_problem, create_session
from tests.conftest import create_tenant
from tests.stack import RelayStack


async def test_tenant_lifecycle(admin: httpx.AsyncClient) -> None:
    created = await admin.post("/v1/tenants", json={"name": "Initech"})
    assert created.status_code == 201, created.text
    tenant = created.json()
    assert tenant["id"].startswith("ten_") and tenant["name"] == "Initech" and tenant["created_at"]

    usage = {"sessions": 0, "messages_today": 0, "webhooks": 0}
    assert (await admin.get(f"/v1/tenants/{tenant['id']}")).json() == {**tenant, "usage": usage}

    deleted = await admin.delete(f"/v1/tenants/{tenant['id']}")
    assert deleted.status_code == 204
    assert_problem(await admin.get(f"/v1/tenants/{tenant['id']}"), 404)
    assert_problem(await admin.delete(f"/v1/tenants/{tenant['id']}"), 404)


async def test_api_keys_are_shown_once_and_listed_without_secret(admin: httpx.AsyncClient) -> None:
    tenant = (await admin.post("/v1/tenants", json={"name": "Hooli"})).json()
    created = await admin.post(f"/v1/tenants/{tenant['id']}/api-keys", json={"name": "backend"})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("rk_") and key["prefix"] == key["key"][:10]
    assert key["name"] == "backend"

    unnamed = await admin.post(f"/v1/tenants/{tenant['id']}/api-keys")
    assert unnamed.status_code == 201 and unnamed.json()["name"] is None

    listed = (await admin.get(f"/v1/tenants/{tenant['id']}/api-keys")).json()
    assert [k["id"] for k in listed["data"]] == [key["id"], unnamed.json()["id"]]
    assert all("key" not in k and "key_hash" not in k for k in listed["data"])
    assert listed["data"][0]["last_used_at"] is None

    removed = await admin.delete(f"/v1/tenants/{tenant['id']}/api-keys/{key['id']}")
    assert removed.status_code == 204
    assert_problem(await admin.delete(f"/v1/tenants/{tenant['id']}/api-keys/{key['id']}"), 404)
    listed = (await admin.get(f"/v1/tenants/{tenant['id']}/api-keys")).json()
    assert [k["id"] for k in listed["data"]] == [unnamed.json()["id"]]


async def test_a_key_is_deleted_only_through_its_own_tenant(admin: httpx.AsyncClient) -> None:
    first = (await admin.post("/v1/tenants", json={"name": "one"})).json()
    second = (await admin.post("/v1/tenants", json={"name": "two"})).json()
    key = (await admin.post(f"/v1/tenants/{first['id']}/api-keys")).json()
    assert_problem(await admin.delete(f"/v1/tenants/{second['id']}/api-keys/{key['id']}"), 404)
    assert len((await admin.get(f"/v1/tenants/{first['id']}/api-keys")).json()["data"]) == 1


async def test_deleting_a_tenant_revokes_everything(
    stack: RelayStack, admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    doomed = await create_tenant(stack, admin, "doomed")
    try:
        await create_session(doomed.client, engine="sandbox", start=False)
        hook = await doomed.client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}
        )
        assert hook.status_code == 201, hook.text
        token = (await doomed.client.post("/v1/auth/token")).json()["token"]

        assert (await admin.delete(f"/v1/tenants/{doomed.id}")).status_code == 204

        assert_problem(await doomed.client.get("/v1/sessions"), 401)
        jwt_client = await anonymous.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        assert_problem(jwt_client, 401)
        ids = [t["id"] for t in (await admin.get("/v1/tenants", params={"limit": 1000})).json()["data"]]
        assert doomed.id not in ids
    finally:
        await doomed.client.aclose()


async def test_the_admin_lists_a_tenants_sessions_as_its_key_would(
    stack: RelayStack, admin: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(stack, admin, "Umbrella")
    other = await create_tenant(stack, admin, "Wayne")
    try:
        ids = [(await create_session(tenant.client, start=False))["id"] for _ in range(3)]
        await create_session(other.client, start=False)
        own = (await tenant.client.get("/v1/sessions")).json()
        first = (await admin.get(f"/v1/tenants/{tenant.id}/sessions", params={"limit": 2})).json()
        rest = await admin.get(
            f"/v1/tenants/{tenant.id}/sessions", params={"limit": 2, "cursor": first["next_cursor"]}
        )
        assert [s["id"] for s in first["data"] + rest.json()["data"]] == ids
        assert first["data"] + rest.json()["data"] == own["data"]
        assert_problem(await admin.get("/v1/tenants/ten_01ARZ3NDEKTSV4RRFFQ69G5FAV/sessions"), 404)
        assert_problem(await tenant.client.get(f"/v1/tenants/{tenant.id}/sessions"), 403)
    finally:
        await tenant.client.aclose()
        await other.client.aclose()
