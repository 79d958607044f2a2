"""What operators probe: liveness, readiness, metrics."""

from __future__ import annotations

import httpx

from tests.api.flows import create_session
from tests.conftest import TenantHandle


async def test_healthz(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_redis(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}


async def test_metrics_count_sessions_by_status(anonymous: httpx.AsyncClient, tenant: TenantHandle) -> None:
    await create_session(tenant.client, start=False)
    response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    stopped = [line for line in lines if line.startswith('relay_sessions{status="stopped"}')]
    assert stopped and float(stopped[0].split()[-1]) >= 1
