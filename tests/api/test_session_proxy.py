"""A session behind its own proxy: the real Go core dials through it, and the password never shows.

The proxy is ``tests.proxies.RefusingProxy`` on loopback (the suite runs with
``RELAY_PROXY_ALLOW_PRIVATE=true``); it records the core's ``CONNECT`` and refuses
it, which is how a machine without Internet drives the real dial path.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from relay.core.config import Settings
from relay.core.crypto import decrypt_secret, install_keys
from relay.core.models import Session
from tests.api.flows import assert_problem
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.proxies import RefusingProxy
from tests.sessions import events_of, session_status
from tests.stack import RelayStack, free_port, wait_http_ok

# The stack's database and Redis opened in the test process.
from tests.webhooks.conftest import ledger  # noqa: F401

PASSWORD = "pr0xy-S3cret"


@pytest.fixture
async def proxy() -> AsyncIterator[RefusingProxy]:
    async with RefusingProxy() as server:
        yield server


async def redis_text(redis: Redis) -> str:
    """Every string, hash and stream entry in Redis, as one text to search."""
    parts: list[str] = []
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            parts.append(repr(await redis.get(key)))
        elif kind == "hash":
            parts.append(repr(await redis.hgetall(key)))
        elif kind == "stream":
            parts.append(repr(await redis.xrange(key)))
    return "\n".join(parts)


async def test_the_core_dials_through_the_proxy_and_the_password_never_shows(
    stack: RelayStack,
    tenant: TenantHandle,
    proxy: RefusingProxy,
    ledger: Redis,  # noqa: F811  # the fixture imported above
) -> None:
    url = proxy.url(user="alice", password=PASSWORD)
    created = await tenant.client.post("/v1/sessions", json={"name": "behind a proxy", "proxy": url})
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["proxy"] == f"http://alice:***@127.0.0.1:{proxy.port}"

    # The real Go core sends its CONNECT to the proxy, with the credentials, and is refused.
    request = await proxy.wait_for_request(timeout=30)
    assert request.line == "CONNECT web.whatsapp.com:443 HTTP/1.1"
    assert request.authorization is not None and request.authorization.startswith("Basic ")

    async def reconnecting() -> dict[str, object] | None:
        seen = await session_status(tenant.client, session["id"])
        return seen if seen["status"] == "reconnecting" and "Forbidden" in (seen["reason"] or "") else None

    shown = await wait_until(reconnecting, timeout=30, what="the proxy's refusal as the reason")
    assert shown["proxy"] == session["proxy"]

    # Nowhere in clear: responses, events, the stored row, Redis, the processes' logs.
    listed = await tenant.client.get("/v1/sessions")
    events = await events_of(tenant.client, session["id"])
    assert any("Forbidden" in (e["data"].get("reason") or "") for e in events)
    for text in (created.text, listed.text, str(shown), str(events)):
        assert PASSWORD not in text
    row = await Session.get(id=session["id"])
    install_keys(Settings.from_env(stack.env).encryption_keys)
    assert PASSWORD not in row.encrypted_proxy and decrypt_secret(row.encrypted_proxy) == url
    assert PASSWORD not in await redis_text(ledger)
    for log in stack.log_dir.glob("*.log"):
        assert PASSWORD not in log.read_text(errors="replace"), log.name

    await tenant.client.post(f"/v1/sessions/{session['id']}/stop")


async def test_patch_changes_or_removes_the_proxy(tenant: TenantHandle, proxy: RefusingProxy) -> None:
    created = (await tenant.client.post("/v1/sessions", json={"name": "p", "start": False})).json()
    assert created["proxy"] is None
    path = f"/v1/sessions/{created['id']}"

    socks = proxy.url(scheme="socks5", user="bob", password=PASSWORD)
    patched = await tenant.client.patch(path, json={"proxy": socks})
    assert patched.status_code == 200, patched.text
    assert patched.json()["proxy"] == f"socks5://bob:***@127.0.0.1:{proxy.port}"
    assert patched.json()["name"] == "p"

    renamed = (await tenant.client.patch(path, json={"name": "renamed"})).json()
    assert renamed["name"] == "renamed" and renamed["proxy"] == patched.json()["proxy"]

    cleared = (await tenant.client.patch(path, json={"proxy": None})).json()
    assert cleared["proxy"] is None and cleared["name"] == "renamed"


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        ("ftp://127.0.0.1:21", "must be an http://, https:// or socks5:// URL"),
        ("http://127.0.0.1", "must name the proxy's port"),
        ("http://127.0.0.1:3128/path", "without a path, query or fragment"),
        ("socks5://:1080", "must have a host"),
        ("http://127.0.0.1:99999", "is not a valid URL"),
        ("http://proxy example:3128", "must not contain whitespace"),
    ],
)
async def test_a_malformed_proxy_is_refused_and_nothing_changes(
    tenant: TenantHandle, proxy: str, message: str
) -> None:
    before = (await tenant.client.get("/v1/sessions")).json()["data"]
    response = await tenant.client.post("/v1/sessions", json={"name": "bad", "proxy": proxy})
    assert_problem(response, 422)
    assert message in response.text
    assert (await tenant.client.get("/v1/sessions")).json()["data"] == before

    existing = (await tenant.client.post("/v1/sessions", json={"name": "kept", "start": False})).json()
    patched = await tenant.client.patch(f"/v1/sessions/{existing['id']}", json={"proxy": proxy, "name": "x"})
    assert_problem(patched, 422)
    assert (await session_status(tenant.client, existing["id"]))["name"] == "kept"


@pytest.fixture
def strict_web(stack: RelayStack) -> AsyncIterator[str]:
    """A second web process on the same database and Redis, with private proxy hosts refused."""
    port = free_port()
    env = {**stack.env, "RELAY_PORT": str(port), "RELAY_PROXY_ALLOW_PRIVATE": "false"}
    log = (stack.log_dir / "strict-web.log").open("wb")
    from relay.cli.launch import relay_command

    process = subprocess.Popen(relay_command("serve"), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "169.254.169.254", "[::1]", "[fd00::1]"],
)
async def test_private_proxy_hosts_are_refused_unless_allowed(
    strict_web: str, tenant: TenantHandle, host: str
) -> None:
    headers = {"Authorization": tenant.client.headers["Authorization"]}
    async with httpx.AsyncClient(base_url=strict_web, headers=headers, timeout=30) as client:
        before = (await client.get("/v1/sessions")).json()["data"]
        response = await client.post("/v1/sessions", json={"name": "sneaky", "proxy": f"http://{host}:3128"})
        assert_problem(response, 422)
        assert "non-public address" in response.json()["detail"]
        assert (await client.get("/v1/sessions")).json()["data"] == before
