"""Every list is `{data, next_cursor}`, ordered by id, walked with `?cursor=`."""

from __future__ import annotations

import httpx

from tests.api.flows import create_session
from tests.conftest import TenantHandle


async def _walk(client: httpx.AsyncClient, path: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        pages.append([item["id"] for item in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_sessions_page_by_cursor(tenant: TenantHandle) -> None:
    created = [(await create_session(tenant.client, name=f"s{i}"))["id"] for i in range(5)]
    pages = await _walk(tenant.client, "/v1/sessions", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == sorted(created)

    # An exact fit may end with one empty page; the cursor never skips or repeats an item.
    exact = await _walk(tenant.client, "/v1/sessions", limit=5)
    assert [i for p in exact for i in p] == sorted(created)

    everything = await tenant.client.get("/v1/sessions", params={"limit": 1000})
    assert everything.status_code == 200 and len(everything.json()["data"]) == 5
    default = (await tenant.client.get("/v1/sessions")).json()
    assert len(default["data"]) == 5 and default["next_cursor"] is None


async def test_api_keys_and_tenants_page_by_cursor(admin: httpx.AsyncClient) -> None:
    tenant = (await admin.post("/v1/tenants", json={"name": "paged"})).json()
    keys = [
        (await admin.post(f"/v1/tenants/{tenant['id']}/api-keys", json={"name": str(i)})).json()["id"]
        for i in range(3)
    ]
    pages = await _walk(admin, f"/v1/tenants/{tenant['id']}/api-keys", limit=2)
    assert [i for p in pages for i in p] == keys

    tenants = [i for p in await _walk(admin, "/v1/tenants", limit=7) for i in p]
    assert tenant["id"] in tenants and tenants == sorted(set(tenants))
