"""The SSRF guard: refused at registration, and again at connect time after DNS resolution."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from relay.core.url_guard import UnsafeURL, check_url, is_forbidden_address
from tests.conftest import TenantHandle
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver
from webhooks.sender import WebhookSender
from webhooks.signing import WebhookSigner, generate_secret

FORBIDDEN = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",  # RFC 1918
    "127.0.0.1",
    "127.8.9.10",  # loopback
    "169.254.169.254",
    "169.254.0.1",  # link-local, cloud metadata
    "100.64.0.1",
    "100.127.255.254",  # CGNAT
    "0.0.0.0",
    "0.1.2.3",  # this network
    "192.0.0.8",
    "198.18.0.1",
    "198.19.255.255",  # IETF, benchmarking
    "240.0.0.1",
    "255.255.255.255",  # reserved, broadcast
    "224.0.0.1",
    "239.255.255.250",  # multicast
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a00:1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::1",  # NAT64
    "2002:7f00:1::1",  # 6to4
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"]


def _url(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}/hook"


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_forbidden_addresses_are_refused(address: str) -> None:
    assert is_forbidden_address(address)
    with pytest.raises(UnsafeURL):
        await check_url(_url(address), allow_private=False)
    await check_url(_url(address), allow_private=True)


@pytest.mark.parametrize("address", PUBLIC)
async def test_public_addresses_pass(address: str) -> None:
    await check_url(_url(address), allow_private=False)


@pytest.fixture(scope="module")
def guarded_web(relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    """A second web process sharing the stack's data, with the guard on (no worker needed)."""
    web = RelayStack(
        env={**relay_env, "RELAY_WEBHOOK_ALLOW_PRIVATE": "false"},
        log_dir=Path(tmp_path_factory.mktemp("guarded-logs")),
    )
    web.start_web()
    try:
        yield web
    finally:
        web.stop_all()


@pytest.fixture
async def guarded_client(guarded_web: RelayStack, tenant: TenantHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=guarded_web.base_url, headers={"Authorization": f"Bearer {tenant.api_key}"}, timeout=30
    ) as client:
        yield client


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://localhost:8080/hook",  # a name resolving to loopback
        "http://10.1.2.3/hook",
    ],
)
async def test_registration_refuses_private_targets(guarded_client: httpx.AsyncClient, url: str) -> None:
    response = await guarded_client.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "url"


async def test_connect_time_guard_defeats_rebinding(receiver: Receiver) -> None:
    """A name that resolves to loopback *now* is refused by the worker's resolver, whatever
    was checked at registration; so is a literal private address."""
    signer = WebhookSigner([generate_secret()])
    async with WebhookSender(timeout=2, allow_private=False) as sender:
        by_name = await sender.send(f"http://localhost:{receiver.port}/rebound", signer, "evt_rebind", b"{}")
        by_address = await sender.send(receiver.url("literal"), signer, "evt_rebind", b"{}")
    assert by_name.status_code is None and "non-public" in (by_name.error or "")
    assert by_address.status_code is None and "non-public" in (by_address.error or "")
    assert receiver.received == []

    # The same receiver is reachable when private targets are allowed.
    async with WebhookSender(timeout=2, allow_private=True) as sender:
        allowed = await sender.send(f"http://localhost:{receiver.port}/ok", signer, "evt_ok", b"{}")
    assert allowed.status_code == 200
