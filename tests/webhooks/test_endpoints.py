"""Endpoint management: shapes, validation naming the field, tenant isolation."""

from __future__ import annotations

import pytest

from tests.conftest import TenantHandle
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver


async def test_crud_story(tenant: TenantHandle, receiver: Receiver) -> None:
    created = await create_endpoint(
        tenant.client, receiver.url("crud"), events=["message.received"], description="CRM"
    )
    assert set(created) >= {
        "id",
        "url",
        "events",
        "session_ids",
        "description",
        "enabled",
        "disabled_reason",
        "created_at",
        "secret",
    }
    assert created["enabled"] is True and created["session_ids"] is None

    fetched = (await tenant.client.get(f"/v1/webhooks/{created['id']}")).json()
    assert "secret" not in fetched and fetched["description"] == "CRM"

    patched = await tenant.client.patch(
        f"/v1/webhooks/{created['id']}", json={"events": ["*"], "enabled": False}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["*"] and patched.json()["enabled"] is False
    assert patched.json()["disabled_reason"]
    enabled = (await tenant.client.patch(f"/v1/webhooks/{created['id']}", json={"enabled": True})).json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None

    listed = (await tenant.client.get("/v1/webhooks")).json()
    assert [e["id"] for e in listed["data"]] == [created["id"]] and listed["next_cursor"] is None

    assert (await tenant.client.delete(f"/v1/webhooks/{created['id']}")).status_code == 204
    assert (await tenant.client.get(f"/v1/webhooks/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "https://user:pass@example.com/hook"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"url": "https://example.com/" + "a" * 2100}, "url"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"url": "https://example.com/", "events": ["message.nope"]}, "events"),
        ({"url": "https://example.com/", "events": "*"}, "events"),
        ({"url": "https://example.com/", "session_ids": "ses_1"}, "session_ids"),
        ({"url": "https://example.com/", "session_ids": ["ses_unknown"]}, "session_ids"),
        ({"url": "https://example.com/", "description": "x" * 501}, "description"),
        ({"url": "https://example.com/", "enabled": "yes"}, "enabled"),
        ({"url": "https://example.com/", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_input_names_the_field(tenant: TenantHandle, body: dict, field: str) -> None:
    response = await tenant.client.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [error["field"] for error in response.json()["errors"]]


async def test_other_tenants_see_nothing(
    tenant: TenantHandle, other_tenant: TenantHandle, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(tenant.client, receiver.url("mine"))
    test = (await tenant.client.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
    delivery_id = test["delivery"]["id"]
    theirs = other_tenant.client
    for method, path in [
        ("GET", f"/v1/webhooks/{endpoint['id']}"),
        ("PATCH", f"/v1/webhooks/{endpoint['id']}"),
        ("DELETE", f"/v1/webhooks/{endpoint['id']}"),
        ("POST", f"/v1/webhooks/{endpoint['id']}/rotate-secret"),
        ("POST", f"/v1/webhooks/{endpoint['id']}/test"),
        ("GET", f"/v1/webhooks/{endpoint['id']}/deliveries"),
        ("POST", f"/v1/webhooks/{endpoint['id']}/replay"),
        ("GET", f"/v1/deliveries/{delivery_id}"),
        ("POST", f"/v1/deliveries/{delivery_id}/retry"),
    ]:
        json_body = {"since": "2026-01-01T00:00:00Z"} if method in {"POST", "PATCH"} else None
        if path.endswith(endpoint["id"]) and method == "PATCH":
            json_body = {"description": "mine now"}
        response = await theirs.request(method, path, json=json_body)
        assert response.status_code == 404, (method, path, response.text)
    assert (await theirs.get("/v1/webhooks")).json()["data"] == []
    # A session filter may not name another tenant's session.
    session = (
        await tenant.client.post("/v1/sessions", json={"name": "s", "engine": "sandbox", "start": False})
    ).json()
    response = await theirs.post(
        "/v1/webhooks", json={"url": receiver.url("x"), "events": ["*"], "session_ids": [session["id"]]}
    )
    assert response.status_code == 422


async def test_deliveries_list_pages_and_filters(tenant: TenantHandle, receiver: Receiver) -> None:
    endpoint = await create_endpoint(tenant.client, receiver.url("pages"))
    for _ in range(3):
        assert (await tenant.client.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 202
    first = (await tenant.client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 2})).json()
    assert len(first["data"]) == 2 and first["next_cursor"] == first["data"][-1]["id"]
    second = (
        await tenant.client.get(
            f"/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert len(second["data"]) == 1 and second["next_cursor"] is None
    bad = await tenant.client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
