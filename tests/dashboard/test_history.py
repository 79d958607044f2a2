"""A session's message history in the dashboard: sent and received, each paged, with status."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import sign_in
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of
from tests.stack import RelayStack

PAGE = 25  # what the dashboard asks for at a time


async def test_sent_and_received_messages_page_through_load_more(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    session = await connected_sandbox_session(tenant.client, "history")
    for number in range(PAGE + 2):
        sent = await tenant.client.post(
            f"/v1/sessions/{session['id']}/messages", json={"to": "15557654321", "text": f"out {number}"}
        )
        assert sent.status_code == 201, sent.text
    # A number starting 000 is not on WhatsApp in the sandbox: that send fails, and says why.
    failed = await tenant.client.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": "0005550000", "text": "nobody"}
    )
    assert failed.status_code in (201, 202), failed.text
    burst = await tenant.client.post(
        f"/v1/sessions/{session['id']}/sandbox/inbound",
        json={"from": "15557654321", "text": "in", "count": 30},
    )
    assert burst.status_code == 202, burst.text

    async def all_received() -> bool:
        return len(await events_of(tenant.client, session["id"], "message.received")) == 30

    await wait_until(all_received, what="30 inbound messages in the ledger")

    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
    history = page.get_by_role("region", name="Messages")
    sent_rows = history.get_by_role("region", name="Outbound messages").locator("tbody tr")
    received_rows = history.get_by_role("region", name="Inbound messages").locator("tbody tr")
    await expect(sent_rows).to_have_count(PAGE)
    await expect(received_rows).to_have_count(PAGE)

    more = history.get_by_role("button", name="Load more")
    await expect(more).to_have_count(2)
    await more.first.click()
    await expect(sent_rows).to_have_count(PAGE + 3)
    await expect(sent_rows.locator("[data-status=failed]")).to_have_count(1)
    await expect(sent_rows.filter(has=page.locator("[data-status=failed]"))).to_contain_text("0005550000")
    await expect(more).to_have_count(1)
    await more.click()
    await expect(received_rows).to_have_count(30)
    await expect(more).to_have_count(0)
    await tab.screenshot("history")
    tab.assert_clean()
