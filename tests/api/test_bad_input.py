"""Bad input on every route gets a precise problem+json answer and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle

MAX_BODY = 1024 * 1024  # Settings.max_body_bytes default
UNKNOWN = "ses_01JDZZZZZZZZZZZZZZZZZZZZZZ"
TO = "4915112345678"

# Tenant routes that read a JSON body.
TENANT_BODY_ROUTES = [
    ("POST", "/v1/sessions"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/sessions/{session_id}/pair-code"),
    ("POST", "/v1/sessions/{session_id}/messages"),
    ("POST", "/v1/sessions/{session_id}/sandbox/scan"),
    ("POST", "/v1/sessions/{session_id}/sandbox/inbound"),
    ("POST", "/v1/sessions/{session_id}/sandbox/drop"),
    ("POST", "/v1/sessions/{session_id}/sandbox/logout"),
]
ADMIN_BODY_ROUTES = [("POST", "/v1/tenants"), ("POST", "/v1/tenants/{tenant_id}/api-keys")]

# (route, body, the field the 422 must name)
INVALID_BODIES: list[tuple[str, Any, str]] = [
    ("/v1/sessions", [1, 2], "body"),
    ("/v1/sessions", {}, "name"),
    ("/v1/sessions", {"name": 5}, "name"),
    ("/v1/sessions", {"name": ""}, "name"),
    ("/v1/sessions", {"name": "x" * 201}, "name"),
    ("/v1/sessions", {"name": "x", "engine": "telegram"}, "engine"),
    ("/v1/sessions", {"name": "x", "start": "yes"}, "start"),
    ("/v1/auth/token", {"ttl_seconds": 0}, "ttl_seconds"),
    ("/v1/auth/token", {"ttl_seconds": 86401}, "ttl_seconds"),
    ("/v1/auth/token", {"ttl_seconds": "60"}, "ttl_seconds"),
    ("/v1/auth/token", {"ttl_seconds": 1.5}, "ttl_seconds"),
    ("/v1/auth/token", "token", "body"),
    ("{session}/pair-code", {}, "phone"),
    ("{session}/pair-code", {"phone": 4915112345678}, "phone"),
    ("{session}/pair-code", {"phone": "+12"}, "phone"),
    ("{session}/pair-code", {"phone": "+49 151 1234567"}, "phone"),
    ("{session}/messages", [], "body"),
    ("{session}/messages", {"type": "text", "text": "x"}, "to"),
    ("{session}/messages", {"to": "not-a-number", "text": "x"}, "to"),
    ("{session}/messages", {"to": 4915112345678, "text": "x"}, "to"),
    ("{session}/messages", {"to": "someone@example.com", "text": "x"}, "to"),
    ("{session}/messages", {"to": TO, "type": "sticker"}, "type"),
    ("{session}/messages", {"to": TO, "type": "text"}, "text"),
    ("{session}/messages", {"to": TO, "text": ""}, "text"),
    ("{session}/messages", {"to": TO, "text": 5}, "text"),
    ("{session}/messages", {"to": TO, "text": "x" * 65537}, "text"),
    ("{session}/messages", {"to": TO, "text": "x", "link_preview": "yes"}, "link_preview"),
    ("{session}/messages", {"to": TO, "text": "x", "reply_to": 5}, "reply_to"),
    ("{session}/messages", {"to": TO, "type": "reaction", "emoji": "👍"}, "message_id"),
    ("{session}/messages", {"to": TO, "type": "reaction", "message_id": "A"}, "emoji"),
    ("{session}/messages", {"to": TO, "type": "image"}, "media"),
    ("{session}/messages", {"to": TO, "type": "image", "media": "https://x.io/a.png"}, "media"),
    (
        "{session}/messages",
        {"to": TO, "type": "image", "media": {"url": "https://x.io/a", "base64": "AAAA"}},
        "media",
    ),
    ("{session}/messages", {"to": TO, "type": "video", "media": {}}, "media"),
    ("{session}/messages", {"to": TO, "type": "audio", "media": {"url": "ftp://x.io/a"}}, "media.url"),
    ("{session}/messages", {"to": TO, "type": "document", "media": {"base64": "!!"}}, "media.base64"),
    (
        "{session}/messages",
        {"to": TO, "type": "image", "media": {"url": "https://x.io/a"}, "caption": 5},
        "caption",
    ),
    ("{session}/messages", {"to": TO, "type": "location", "latitude": 91, "longitude": 0}, "latitude"),
    ("{session}/messages", {"to": TO, "type": "location", "latitude": 0, "longitude": -181}, "longitude"),
    ("{session}/messages", {"to": TO, "type": "location", "latitude": "1", "longitude": 0}, "latitude"),
    ("{session}/messages", {"to": TO, "type": "location", "latitude": True, "longitude": 0}, "latitude"),
    ("{session}/messages", {"to": TO, "type": "location", "latitude": 0}, "longitude"),
    ("{session}/sandbox/scan", {"phone": "abc"}, "phone"),
    ("{session}/sandbox/inbound", {}, "from"),
    ("{session}/sandbox/inbound", {"from": TO}, "text"),
    ("{session}/sandbox/inbound", {"from": TO, "text": "x", "count": 0}, "count"),
    ("{session}/sandbox/inbound", {"from": TO, "text": "x", "count": 1001}, "count"),
    ("{session}/sandbox/inbound", {"from": TO, "text": "x", "count": "3"}, "count"),
    ("{session}/sandbox/inbound", {"from": TO, "type": "gif", "text": "x"}, "type"),
    ("{session}/sandbox/inbound", {"from": TO, "type": "image"}, "media"),
    ("{session}/sandbox/inbound", {"from": TO, "type": "image", "media": {}}, "media.base64"),
    ("{session}/sandbox/inbound", {"from": TO, "type": "image", "media": {"base64": "%%%%"}}, "media.base64"),
    (
        "{session}/sandbox/inbound",
        {"from": TO, "type": "audio", "media": {"base64": "AAAA"}, "ptt": "x"},
        "ptt",
    ),
    ("{session}/sandbox/drop", [], "body"),
]
INVALID_ADMIN_BODIES: list[tuple[str, Any, str]] = [
    ("/v1/tenants", {}, "name"),
    ("/v1/tenants", {"name": 1}, "name"),
    ("/v1/tenants", {"name": ""}, "name"),
    ("/v1/tenants", [], "body"),
    ("{tenant}/api-keys", {"name": 5}, "name"),
    ("{tenant}/api-keys", {"name": "x" * 201}, "name"),
]
LIST_ROUTES = ["/v1/sessions", "/v1/events", "{session}/messages"]
ID_ROUTES = [
    ("GET", "/v1/sessions/{id}"),
    ("DELETE", "/v1/sessions/{id}"),
    ("POST", "/v1/sessions/{id}/start"),
    ("POST", "/v1/sessions/{id}/stop"),
    ("POST", "/v1/sessions/{id}/logout"),
    ("GET", "/v1/sessions/{id}/qr"),
    ("GET", "/v1/sessions/{id}/messages"),
    ("GET", "/v1/messages/{id}"),
    ("POST", "/v1/sessions/{id}/sandbox/drop"),
    ("POST", "/v1/sessions/{id}/sandbox/logout"),
]


@pytest.fixture
async def idle_session(tenant: TenantHandle) -> dict[str, Any]:
    """A stopped sandbox session: no worker touches it, so any change would be ours."""
    return await create_session(tenant.client, engine="sandbox", start=False)


async def _tenant_state(client: httpx.AsyncClient) -> dict[str, Any]:
    sessions = (await client.get("/v1/sessions", params={"limit": 1000})).json()["data"]
    messages = [(await client.get(f"/v1/sessions/{s['id']}/messages")).json()["data"] for s in sessions]
    events = (await client.get("/v1/events", params={"limit": 1000})).json()["data"]
    return {"sessions": sessions, "messages": messages, "events": events}


def _path(template: str, session: dict[str, Any]) -> str:
    return template.replace("{session}", f"/v1/sessions/{session['id']}").format(session_id=session["id"])


@pytest.mark.parametrize(("route", "body", "field"), INVALID_BODIES)
async def test_invalid_bodies_are_422_naming_the_field(
    tenant: TenantHandle, idle_session: dict[str, Any], route: str, body: Any, field: str
) -> None:
    before = await _tenant_state(tenant.client)
    response = await tenant.client.post(_path(route, idle_session), json=body)
    assert_problem(response, 422, field)
    assert await _tenant_state(tenant.client) == before


@pytest.mark.parametrize(("method", "route"), TENANT_BODY_ROUTES)
async def test_malformed_json_is_400(
    tenant: TenantHandle, idle_session: dict[str, Any], method: str, route: str
) -> None:
    before = await _tenant_state(tenant.client)
    response = await tenant.client.request(
        method,
        _path(route, idle_session),
        content=b'{"name": "x",',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400)
    assert await _tenant_state(tenant.client) == before


@pytest.mark.parametrize(("method", "route"), TENANT_BODY_ROUTES)
async def test_oversize_body_is_413(
    tenant: TenantHandle, idle_session: dict[str, Any], method: str, route: str
) -> None:
    before = await _tenant_state(tenant.client)
    body = b'{"name": "' + b"x" * MAX_BODY + b'"}'
    response = await tenant.client.request(method, _path(route, idle_session), content=body)
    assert_problem(response, 413)
    assert await _tenant_state(tenant.client) == before


async def test_streamed_oversize_body_is_413(tenant: TenantHandle) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_BODY // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    before = await _tenant_state(tenant.client)
    # No Content-Length: httpx streams it chunked, so only counting catches it.
    response = await tenant.client.post("/v1/sessions", content=chunks())
    assert_problem(response, 413)
    assert await _tenant_state(tenant.client) == before


@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
async def test_unknown_ids_are_404(tenant: TenantHandle, method: str, route: str) -> None:
    response = await tenant.client.request(method, route.format(id=UNKNOWN))
    assert_problem(response, 404)


@pytest.mark.parametrize("route", LIST_ROUTES)
@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten"])
async def test_bad_limits_are_422(
    tenant: TenantHandle, idle_session: dict[str, Any], route: str, limit: str
) -> None:
    response = await tenant.client.get(_path(route, idle_session), params={"limit": limit})
    assert_problem(response, 422, "limit")


@pytest.mark.parametrize(("route", "body", "field"), INVALID_ADMIN_BODIES)
async def test_invalid_admin_bodies_are_422(
    admin: httpx.AsyncClient, tenant: TenantHandle, route: str, body: Any, field: str
) -> None:
    tenants_before = (await admin.get("/v1/tenants", params={"limit": 1000})).json()
    keys_before = (await admin.get(f"/v1/tenants/{tenant.id}/api-keys")).json()
    path = route.replace("{tenant}", f"/v1/tenants/{tenant.id}")
    assert_problem(await admin.post(path, json=body), 422, field)
    assert (await admin.get("/v1/tenants", params={"limit": 1000})).json() == tenants_before
    assert (await admin.get(f"/v1/tenants/{tenant.id}/api-keys")).json() == keys_before


@pytest.mark.parametrize(("method", "route"), ADMIN_BODY_ROUTES)
async def test_admin_malformed_and_oversize_bodies(
    admin: httpx.AsyncClient, tenant: TenantHandle, method: str, route: str
) -> None:
    path = route.format(tenant_id=tenant.id)
    assert_problem(await admin.request(method, path, content=b"{oops"), 400)
    assert_problem(await admin.request(method, path, content=b"[" + b"1," * MAX_BODY + b"1]"), 413)


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("GET", "/v1/tenants/ten_unknown"),
        ("DELETE", "/v1/tenants/ten_unknown"),
        ("POST", "/v1/tenants/ten_unknown/api-keys"),
        ("GET", "/v1/tenants/ten_unknown/api-keys"),
        ("DELETE", "/v1/tenants/ten_unknown/api-keys/key_unknown"),
    ],
)
async def test_admin_unknown_ids_are_404(admin: httpx.AsyncClient, method: str, route: str) -> None:
    assert_problem(await admin.request(method, route), 404)


async def test_unknown_routes_and_methods(tenant: TenantHandle, anonymous: httpx.AsyncClient) -> None:
    assert_problem(await tenant.client.get("/v1/nothing-here"), 404)
    assert_problem(await anonymous.get("/nothing-here"), 404)
    wrong_method = await tenant.client.put("/v1/sessions")
    assert_problem(wrong_method, 405)
    assert "POST" in wrong_method.headers["allow"]
