"""The overview shows what GET /v1/stats returns, read in one request (not one per endpoint)."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import sign_in
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, wait_for_status
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver, Reply


async def test_the_overview_shows_the_stats(
    stack: RelayStack, tenant: TenantHandle, receiver: Receiver, tab: Tab
) -> None:
    session = await connected_sandbox_session(tenant.client, "counted")
    for number in range(3):
        sent = await tenant.client.post(
            f"/v1/sessions/{session['id']}/messages", json={"to": "15557654321", "text": f"n{number}"}
        )
        assert sent.status_code in (201, 202), sent.text
    stopped = (await tenant.client.post("/v1/sessions", json={"name": "idle", "engine": "sandbox"})).json()
    await tenant.client.post(f"/v1/sessions/{stopped['id']}/stop")
    await wait_for_status(tenant.client, stopped["id"], "stopped")
    # Only test deliveries, and only the slow endpoint's: the session's own events (acks arrive
    # a moment after each send) must not make a second delivery pending while the page reads.
    await tenant.client.post("/v1/webhooks", json={"url": receiver.url("/fine"), "events": ["webhook.test"]})
    # An endpoint that never answers in time keeps its test delivery pending for a few seconds.
    receiver.script("/slow", then=Reply(delay=30))
    slow = (
        await tenant.client.post(
            "/v1/webhooks", json={"url": receiver.url("/slow"), "events": ["webhook.test"]}
        )
    ).json()

    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert (await tenant.client.post(f"/v1/webhooks/{slow['id']}/test")).status_code in (200, 202)

    async def one_pending() -> dict[str, Any] | None:
        stats = (await tenant.client.get("/v1/stats")).json()
        return stats if stats["webhooks"]["deliveries_pending"] == 1 else None

    stats = await wait_until(one_pending, what="the slow endpoint's delivery pending")
    requests_before = len(tab.requests)
    await page.get_by_role("navigation").get_by_role("link", name="Overview").click()
    tiles = page.locator(".tiles")
    await expect(tiles.locator("[data-tile=deliveries_pending] .tile-value")).to_have_text("1")
    await expect(tiles.locator("[data-tile=oldest_pending] .tile-value")).to_have_text(
        re.compile(r"^(\d+|under 1) s$")
    )
    await expect(tiles.locator("[data-tile=sessions] .tile-value")).to_have_text(
        str(sum(stats["sessions"].values()))
    )
    await expect(tiles.locator("[data-tile=connected] .tile-value")).to_have_text("1")
    await expect(tiles.locator("[data-tile=messages_sent_today] .tile-value")).to_have_text(
        str(stats["messages_sent_today"])
    )
    await expect(tiles.locator("[data-tile=endpoints] .tile-value")).to_have_text("2")
    for status, count in stats["sessions"].items():
        await expect(page.locator(f".status-counts li[data-status='{status}']")).to_have_text(
            f"{status} {count}"
        )
    assert stats["messages_sent_today"] == 3
    await tab.screenshot("overview")

    # One request for the counts (the quota card reads the tenant): no list of sessions or endpoints,
    # no deliveries per endpoint.
    api_calls = [url.partition("://")[2].partition("/")[2] for url in tab.requests[requests_before:]]
    assert sorted(call for call in api_calls if call.startswith("v1/")) == ["v1/stats", "v1/tenant"], (
        api_calls
    )
    tab.assert_clean()
