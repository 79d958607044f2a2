"""What operators probe: liveness, readiness, metrics."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.stack import free_port, wait_http_ok


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


@pytest.fixture
def web_without_redis(relay_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A second web process whose Redis is gone: it stays alive but must not claim readiness."""
    port = free_port()
    env = {**relay_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}", "RELAY_PORT": str(port)}
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


async def test_readyz_is_503_naming_what_failed(web_without_redis: str) -> None:
    async with httpx.AsyncClient(base_url=web_without_redis, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
        response = await client.get("/readyz")
    problem = assert_problem(response, 503)
    assert "redis" in problem["detail"] and "database" not in problem["detail"]
