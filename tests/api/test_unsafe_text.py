"""Text no database can store (NUL, lone surrogates) and malformed ids are refused, never a 500.

The same answers on SQLite and Postgres: Postgres cannot store a NUL in text
and neither can store a lone surrogate, so each is a 422 naming the field
wherever it arrives, before anything is written.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from relay.web.api.operations import operation_of
from tests.api.flows import app_routes, assert_problem, create_session
from tests.conftest import TenantHandle
from tests.stack import RelayStack, free_port

NUL = "a\u0000b"
LONE_SURROGATE = "a\ud800b"
# JSON text as a client would send it: json.dumps escapes both, as \u0000 and \ud800.
POISONED = [pytest.param(NUL, id="nul"), pytest.param(LONE_SURROGATE, id="lone-surrogate")]
TO = "4915112345678"


async def _send(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    """``body`` as JSON text with every non-ASCII character escaped, as most clients send it.

    (httpx writes UTF-8, which cannot carry a lone surrogate; the escaped form can.)
    """
    content = json.dumps(body).encode()
    return await client.request(method, path, content=content, headers={"Content-Type": "application/json"})


def _body_routes() -> list[tuple[str, str]]:
    """Every declared route that reads a JSON body, from the app's real route table."""
    routes = []
    for route in app_routes():
        operation = operation_of(route)
        if operation is not None and operation.takes_body:
            routes.append((operation.method, operation.path))
    return routes


async def _tenant_state(tenant: TenantHandle, admin: httpx.AsyncClient) -> list[Any]:
    client = tenant.client
    return [
        (await client.get("/v1/sessions", params={"limit": 1000})).json(),
        (await client.get("/v1/webhooks", params={"limit": 1000})).json(),
        (await client.get("/v1/events", params={"limit": 1000})).json(),
        (await admin.get("/v1/tenants", params={"limit": 1000})).json(),
        (await admin.get(f"/v1/tenants/{tenant.id}/api-keys")).json(),
    ]


@pytest.fixture
async def ids(tenant: TenantHandle) -> dict[str, str]:
    """Real ids for every path parameter, so each route reaches its body check."""
    session = await create_session(tenant.client, engine="sandbox", start=False)
    endpoint = await tenant.client.post(
        "/v1/webhooks", json={"url": f"http://127.0.0.1:{free_port()}/hook", "enabled": True}
    )
    assert endpoint.status_code == 201, endpoint.text
    return {
        "session_id": session["id"],
        "webhook_id": endpoint.json()["id"],
        "tenant_id": tenant.id,
        "group_jid": "120363000000000001@g.us",  # bodies are checked before any group is looked up
    }


@pytest.mark.parametrize("text", POISONED)
@pytest.mark.parametrize(("method", "route"), _body_routes())
async def test_every_body_route_refuses_unstorable_text(
    admin: httpx.AsyncClient,
    tenant: TenantHandle,
    ids: dict[str, str],
    method: str,
    route: str,
    text: str,
) -> None:
    """A poisoned field, top level and nested, is a 422 naming both; nothing changes."""
    client = admin if route.startswith("/v1/tenants") else tenant.client
    before = await _tenant_state(tenant, admin)
    body = {"name": text, "nested": {"deep": ["ok", text]}}
    response = await _send(client, method, route.format(**ids), body)
    problem = assert_problem(response, 422, "name")
    assert "nested.deep" in [error["field"] for error in problem["errors"]], problem
    assert await _tenant_state(tenant, admin) == before


@pytest.mark.parametrize("text", POISONED)
async def test_session_names_with_nul_are_422_not_500(
    tenant: TenantHandle, admin: httpx.AsyncClient, text: str
) -> None:
    """The issue's case: Postgres answered 500, SQLite stored it."""
    before = await _tenant_state(tenant, admin)
    assert_problem(await _send(tenant.client, "POST", "/v1/sessions", {"name": text}), 422, "name")
    assert await _tenant_state(tenant, admin) == before


def _message_bodies(text: str) -> list[tuple[dict[str, Any], str]]:
    return [
        ({"to": TO, "text": text}, "text"),
        ({"to": TO, "type": "image", "media": {"url": f"https://x.io/{text}"}}, "media.url"),
        ({"to": TO, "type": "location", "latitude": 1, "longitude": 2, "name": text}, "name"),
        ({"to": TO, "type": "reaction", "message_id": "ABC", "emoji": text}, "emoji"),
    ]


@pytest.mark.parametrize("text", POISONED)
async def test_message_payloads_refuse_unstorable_text_at_any_depth(
    tenant: TenantHandle, ids: dict[str, str], text: str
) -> None:
    path = f"/v1/sessions/{ids['session_id']}/messages"
    for body, field in _message_bodies(text):
        assert_problem(await _send(tenant.client, "POST", path, body), 422, field)
    assert (await tenant.client.get(path)).json()["data"] == []


@pytest.mark.parametrize("text", POISONED)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1:9/{text}"}, "url"),
        ({"url": "http://127.0.0.1:9/", "events": ["{text}"]}, "events"),
        ({"url": "http://127.0.0.1:9/", "session_ids": ["{text}"]}, "session_ids"),
        ({"url": "http://127.0.0.1:9/", "description": "{text}"}, "description"),
    ],
)
async def test_webhook_urls_and_filters_refuse_unstorable_text(
    tenant: TenantHandle, ids: dict[str, str], text: str, body: dict[str, Any], field: str
) -> None:
    def poison(value: Any) -> Any:
        if isinstance(value, list):
            return [poison(item) for item in value]
        return value.replace("{text}", text) if isinstance(value, str) else value

    poisoned = {key: poison(value) for key, value in body.items()}
    before = (await tenant.client.get("/v1/webhooks")).json()
    assert_problem(await _send(tenant.client, "POST", "/v1/webhooks", poisoned), 422, field)
    patch = await _send(tenant.client, "PATCH", f"/v1/webhooks/{ids['webhook_id']}", poisoned)
    assert_problem(patch, 422, field)
    assert (await tenant.client.get("/v1/webhooks")).json() == before


async def test_lone_surrogates_in_raw_json_are_422_naming_the_field(tenant: TenantHandle) -> None:
    """orjson refuses a lone surrogate escape; it is still valid JSON, so it is a 422, not a 400."""
    response = await tenant.client.post(
        "/v1/sessions", content=b'{"name": "a\\ud800b"}', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "name")
    # A field *name* cannot be echoed back; the refusal names where it sits.
    response = await tenant.client.post(
        "/v1/sessions", content=b'{"name": "x", "\\u0000": 1}', headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422, "body")
    assert "field names" in problem["errors"][0]["message"]
    # Real malformations stay 400: NaN is not JSON, whichever decoder reads it.
    response = await tenant.client.post(
        "/v1/sessions", content=b'{"name": "\\ud800", "n": NaN}', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("route", "params", "field"),
    [
        ("/v1/events", {"after": "garbage"}, "after"),
        ("/v1/events", {"after": "zzz"}, "after"),
        ("/v1/events", {"after": "ses_01JDZZZZZZZZZZZZZZZZZZZZZZ"}, "after"),
        ("/v1/events", {"cursor": "x" * 5000}, "cursor"),
        ("/v1/events", {"session_id": "garbage"}, "session_id"),
        ("/v1/events", {"session_id": "s" * 5000}, "session_id"),
        ("/v1/events", {"type": "t" * 5000}, "type"),
        ("/v1/events", {"type": "message.nope"}, "type"),
        ("/v1/events", {"after": NUL}, "after"),
        ("/v1/events", {"type": NUL}, "type"),
        ("/v1/sessions", {"cursor": "x" * 5000}, "cursor"),
        ("/v1/sessions", {"cursor": "evt_01JDZZZZZZZZZZZZZZZZZZZZZZ"}, "cursor"),
        ("/v1/sessions", {"cursor": NUL}, "cursor"),
        ("/v1/webhooks", {"cursor": "x" * 5000}, "cursor"),
        ("{session}/messages", {"cursor": "x" * 5000}, "cursor"),
        ("{webhook}/deliveries", {"cursor": "garbage"}, "cursor"),
        ("{webhook}/deliveries", {"status": NUL}, "status"),
    ],
)
async def test_malformed_query_ids_and_cursors_are_422(
    tenant: TenantHandle, ids: dict[str, str], route: str, params: dict[str, str], field: str
) -> None:
    path = route.replace("{session}", f"/v1/sessions/{ids['session_id']}").replace(
        "{webhook}", f"/v1/webhooks/{ids['webhook_id']}"
    )
    assert_problem(await tenant.client.get(path, params=params), 422, field)


async def test_admin_cursors_are_422(admin: httpx.AsyncClient, tenant: TenantHandle) -> None:
    assert_problem(await admin.get("/v1/tenants", params={"cursor": "x" * 5000}), 422, "cursor")
    keys = f"/v1/tenants/{tenant.id}/api-keys"
    assert_problem(await admin.get(keys, params={"cursor": "ten_01JDZZZZZZZZZZZZZZZZZZZZZZ"}), 422, "cursor")


async def test_well_formed_cursors_still_page(tenant: TenantHandle) -> None:
    """The stricter cursor is the one next_cursor hands out: paging keeps working."""
    first = await create_session(tenant.client, name="one")
    second = await create_session(tenant.client, name="two")
    page = (await tenant.client.get("/v1/sessions", params={"limit": 1})).json()
    assert [s["id"] for s in page["data"]] == [first["id"]]
    rest = (await tenant.client.get("/v1/sessions", params={"cursor": page["next_cursor"]})).json()
    assert [s["id"] for s in rest["data"]] == [second["id"]]
    assert (await tenant.client.get("/v1/events", params={"after": "", "type": ""})).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/sessions/" + "x" * 5000,
        "/v1/sessions/ses_01JDZZZZZZZZZZZZZZZZZZZZZZ" + "Z" * 100,
        "/v1/messages/" + "m" * 300,
        "/v1/webhooks/" + "w" * 300,
        "/v1/deliveries/" + "d" * 300,
        "/v1/sessions/garbage/messages",
    ],
)
async def test_malformed_path_ids_are_404(tenant: TenantHandle, path: str) -> None:
    """A path id that cannot be an id names nothing: the same 404 as an unknown one."""
    assert_problem(await tenant.client.get(path), 404)


async def test_path_ids_with_nul_are_422(tenant: TenantHandle, admin: httpx.AsyncClient) -> None:
    assert_problem(await tenant.client.get("/v1/sessions/ses%00x"), 422, "session_id")
    assert_problem(await admin.get("/v1/tenants/" + "t" * 300), 404)
    assert_problem(await admin.delete("/v1/tenants/ten%00x"), 422, "tenant_id")


async def test_idempotency_keys_with_nul_are_refused(
    stack: RelayStack, tenant: TenantHandle, ids: dict[str, str]
) -> None:
    """Clients refuse to send a NUL in a header, so the request is written by hand."""
    path = f"/v1/sessions/{ids['session_id']}/messages"
    body = json.dumps({"to": TO, "text": "x"}).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {tenant.api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Idempotency-Key: a\u0000b\r\nConnection: close\r\n\r\n"
    ).encode() + body
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()
    status = int(status_line.split()[1])
    # uvicorn's HTTP parser may refuse the header itself (400); Relay refuses it with a 422.
    assert status in (400, 422), status_line
    assert (await tenant.client.get(path)).json()["data"] == []
