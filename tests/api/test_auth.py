"""Who may call what: admin token, tenant API keys, JWTs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt

from tests.api.flows import assert_problem
from tests.conftest import TenantHandle
from tests.stack import RelayStack


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_is_401_with_bearer_challenge(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/v1/sessions")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_unknown_tokens_are_401(anonymous: httpx.AsyncClient) -> None:
    for token in ("nope", "rk_not-a-real-key", "a.b.c"):
        response = await anonymous.get("/v1/sessions", headers=bearer(token))
        assert_problem(response, 401)
    response = await anonymous.get("/v1/sessions", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert_problem(response, 401)


async def test_admin_token_cannot_use_tenant_routes(admin: httpx.AsyncClient) -> None:
    assert_problem(await admin.get("/v1/sessions"), 403)
    assert_problem(await admin.post("/v1/sessions", json={"name": "x"}), 403)


async def test_tenant_key_cannot_use_admin_routes(tenant: TenantHandle) -> None:
    assert_problem(await tenant.client.get("/v1/tenants"), 403)
    assert_problem(await tenant.client.post("/v1/tenants", json={"name": "mine"}), 403)
    assert_problem(await tenant.client.get(f"/v1/tenants/{tenant.id}"), 403)


async def test_jwt_from_api_key_works_like_the_key(
    tenant: TenantHandle, anonymous: httpx.AsyncClient
) -> None:
    response = await tenant.client.post("/v1/auth/token", json={"ttl_seconds": 120})
    assert response.status_code == 201, response.text
    token = response.json()
    expires_at = datetime.fromisoformat(token["expires_at"])
    assert timedelta(seconds=100) < expires_at - datetime.now(UTC) <= timedelta(seconds=121)

    listed = await anonymous.get("/v1/sessions", headers=bearer(token["token"]))
    assert listed.status_code == 200, listed.text

    claims = jwt.decode(token["token"], options={"verify_signature": False})
    assert claims["tenant_id"] == tenant.id and claims["role"] == "tenant"


async def test_jwt_defaults_to_an_hour_and_cannot_mint_another(
    tenant: TenantHandle, anonymous: httpx.AsyncClient
) -> None:
    response = await tenant.client.post("/v1/auth/token")
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    lifetime = datetime.fromisoformat(response.json()["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)
    # A leaked browser token must not be able to renew itself forever.
    assert_problem(await anonymous.post("/v1/auth/token", headers=bearer(token)), 403)


async def test_expired_or_forged_jwt_is_401(
    stack: RelayStack, tenant: TenantHandle, anonymous: httpx.AsyncClient
) -> None:
    secret = stack.env["RELAY_JWT_SECRET"]
    claims = {"sub": "key_x", "tenant_id": tenant.id, "role": "tenant"}
    expired = jwt.encode({**claims, "exp": datetime.now(UTC) - timedelta(minutes=1)}, secret, "HS256")
    forged = jwt.encode({**claims, "exp": datetime.now(UTC) + timedelta(minutes=5)}, "x" * 48, "HS256")
    admin_role = jwt.encode(
        {**claims, "role": "admin", "exp": datetime.now(UTC) + timedelta(minutes=5)}, secret, "HS256"
    )
    for token in (expired, forged, admin_role):
        assert_problem(await anonymous.get("/v1/sessions", headers=bearer(token)), 401)


async def test_api_key_use_is_recorded(admin: httpx.AsyncClient, tenant: TenantHandle) -> None:
    assert (await tenant.client.get("/v1/sessions")).status_code == 200
    keys = (await admin.get(f"/v1/tenants/{tenant.id}/api-keys")).json()["data"]
    [key] = keys
    assert key["last_used_at"] is not None
    assert "key" not in key and tenant.api_key.startswith(key["prefix"])


async def test_deleted_key_stops_working_at_once(
    admin: httpx.AsyncClient, tenant: TenantHandle, anonymous: httpx.AsyncClient
) -> None:
    created = (await admin.post(f"/v1/tenants/{tenant.id}/api-keys", json={"name": "ci"})).json()
    assert (await anonymous.get("/v1/sessions", headers=bearer(created["key"]))).status_code == 200

    deleted = await admin.delete(f"/v1/tenants/{tenant.id}/api-keys/{created['id']}")
    assert deleted.status_code == 204

    assert_problem(await anonymous.get("/v1/sessions", headers=bearer(created["key"])), 401)
    # The tenant's other key is untouched.
    assert (await tenant.client.get("/v1/sessions")).status_code == 200


async def test_ops_routes_need_no_token(anonymous: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await anonymous.get(path)).status_code == 200, path
