"""The dashboard's feed survives a dropped connection: it resumes with `since` and misses nothing."""

from __future__ import annotations

import re

from playwright.async_api import WebSocketRoute, expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import sign_in
from tests.sessions import connected_sandbox_session
from tests.stack import RelayStack


async def test_a_dropped_feed_reconnects_and_replays_what_it_missed(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    session = await connected_sandbox_session(tenant.client, "resume")
    page = tab.page
    # Every socket the page opens goes through to the real server; the test can cut it like a network would.
    sockets: list[WebSocketRoute] = []

    def through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    await page.route_web_socket(re.compile(r"/v1/ws"), through)
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
    state = page.locator("#feed-state")
    await expect(state).to_have_text("Live feed: live")

    await sockets[0].close(code=4000, reason="network gone")
    await expect(state).to_contain_text("reconnecting")
    # While the page is cut off, a contact writes: the ledger has it, the page not yet.
    sent = await tenant.client.post(
        f"/v1/sessions/{session['id']}/sandbox/inbound", json={"from": "15557654321", "text": "while away"}
    )
    assert sent.status_code == 202, sent.text

    await expect(state).to_have_text("Live feed: live", timeout=10_000)
    assert len(sockets) == 2
    stream = page.locator("ol.stream li[data-type='message.received']")
    await expect(stream).to_have_count(1)
    await expect(stream).to_contain_text("while away")
    received = page.get_by_role("region", name="Inbound messages")
    await expect(received).to_contain_text("while away")
    await tab.screenshot("resumed")
    tab.assert_clean()
