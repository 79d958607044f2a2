"""A tenant links a sandbox session from the dashboard and watches it live, without reloading."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import create_sandbox_session, sign_in
from tests.stack import RelayStack


async def test_sign_in_create_scan_and_send_live(stack: RelayStack, tenant: TenantHandle, tab: Tab) -> None:
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator("#feed-state")).to_have_text("Live feed: live")
    await tab.screenshot("overview-empty")

    session_id = await create_sandbox_session(page, "shop")
    qr = page.get_by_role("img", name="QR code to scan with WhatsApp > Linked devices")
    await expect(qr).to_be_visible()
    await expect(page.locator(".countdown")).to_contain_text("Expires in")
    first = await qr.get_attribute("src")
    first_expiry = await qr.get_attribute("data-expires-at")
    first_pixels = await qr.screenshot()
    await tab.screenshot("session-qr")

    # The tests' sandbox refreshes its QR every second: the image is replaced on the next session.qr.
    await expect(qr).not_to_have_attribute("data-expires-at", first_expiry or "")
    assert await qr.get_attribute("src") != first
    assert await qr.screenshot() != first_pixels

    # The simulated phone scans, outside the browser; the page learns it from the feed alone.
    await page.evaluate("window.notReloaded = true")
    scanned = await tenant.client.post(
        f"/v1/sessions/{session_id}/sandbox/scan", json={"phone": "15550001111"}
    )
    assert scanned.status_code == 202, scanned.text
    status = page.locator("dd[data-field=Status]")
    await expect(status).to_have_text("connected")
    await expect(qr).to_be_hidden()
    await expect(page.locator("dd[data-field=Phone]")).to_have_text("15550001111")
    assert await page.evaluate("window.notReloaded") is True
    # Screen readers hear the change once, from a status region, not every event of the stream.
    await expect(page.get_by_role("status").filter(has_text="Session shop is connected")).to_have_count(1)
    stream = page.locator("ol.stream")
    await expect(stream.locator("li[data-type='session.status']").first).to_contain_text("connected")

    send = page.get_by_role("region", name="Send a test message")
    await send.get_by_label("To").fill("15557654321")
    await send.get_by_label("Text").fill("hi from the browser")
    await send.get_by_role("button", name="Send").click()
    await expect(send.get_by_role("status")).to_contain_text("sent")
    await expect(stream.locator("li[data-type='message.sent']")).to_have_count(1)
    sent_row = page.get_by_role("region", name="Outbound messages").locator("tbody tr")
    await expect(sent_row).to_have_count(1)
    await expect(sent_row.locator("[data-status]")).to_have_text("sent")
    # The tenant's quotas: the message counts today.
    today = page.get_by_role("region", name="Quotas and usage").locator("tr[data-quota=max_messages_per_day]")
    await expect(today.locator("td").first).to_have_text("1")

    # A contact answers: the inbound history grows live too.
    inbound = await tenant.client.post(
        f"/v1/sessions/{session_id}/sandbox/inbound", json={"from": "15557654321", "text": "hello back"}
    )
    assert inbound.status_code == 202, inbound.text
    received = page.get_by_role("region", name="Inbound messages")
    await expect(received).to_contain_text("hello back")
    await tab.screenshot("session-connected")

    # The list shows the session connected, and its row links back to it.
    await page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    row = page.locator(f"tr[data-session-id='{session_id}']")
    await expect(row.locator("[data-status]")).to_have_text("connected")
    await tab.screenshot("sessions")

    # Nothing was stored in the browser; signing out forgets the token and closes the feed.
    stored = await page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]")
    assert stored == [0, 0, ""]
    assert await page.get_by_label("API key or admin token").count() == 0
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Relay")).to_be_visible()
    await expect(page.get_by_label("API key or admin token")).to_have_value("")
    await expect(page.locator("#feed-state")).to_have_text("")
    await page.goto(f"{stack.base_url}/#/sessions/{session_id}")
    await expect(page.get_by_role("heading", name="Sign in to Relay")).to_be_visible()
    tab.assert_clean()


async def test_status_changes_reach_the_list_without_a_reload(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    created = await tenant.client.post("/v1/sessions", json={"name": "desk", "engine": "sandbox"})
    session_id = created.json()["id"]
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    row = page.locator(f"tr[data-session-id='{session_id}']")
    await expect(row.locator("[data-status]")).to_have_text("qr")

    await tenant.client.post(f"/v1/sessions/{session_id}/sandbox/scan", json={})
    await expect(row.locator("[data-status]")).to_have_text("connected")
    # A session created elsewhere joins the list as soon as it reports a status.
    other = (await tenant.client.post("/v1/sessions", json={"name": "kiosk", "engine": "sandbox"})).json()
    await expect(page.locator(f"tr[data-session-id='{other['id']}']")).to_contain_text("kiosk")
    # The connection breaks and comes back: the row shows the last error the server kept.
    dropped = await tenant.client.post(f"/v1/sessions/{session_id}/sandbox/drop", json={})
    assert dropped.status_code == 202, dropped.text
    await expect(row.locator(".error-cell")).not_to_be_empty()
    await expect(row.locator("[data-status]")).to_have_text("connected")
    # The phone unlinks the device: the row says so, with the reason.
    await tenant.client.post(f"/v1/sessions/{session_id}/sandbox/logout", json={})
    await expect(row.locator("[data-status]")).to_have_text("logged_out")
    await expect(row.locator(".reason-cell")).not_to_be_empty()
    await tab.screenshot("sessions-logged-out")
    tab.assert_clean()


async def test_pairing_code_and_lifecycle_buttons(stack: RelayStack, tenant: TenantHandle, tab: Tab) -> None:
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    session_id = await create_sandbox_session(page, "counter")
    status = page.locator("dd[data-field=Status]")
    await expect(status).to_have_text("qr")

    await page.get_by_label("Link with phone number instead").fill("+15550002222")
    await page.get_by_role("button", name="Get pairing code").click()
    await expect(page.locator("output.pair-code")).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    await expect(status).to_have_text("pairing")
    await tab.screenshot("pairing-code")

    await page.get_by_role("button", name="Stop").click()
    await expect(status).to_have_text("stopped")
    await expect(page.locator("dd[data-field='Desired state']")).to_have_text("stopped")
    await page.get_by_role("button", name="Start").click()
    await expect(status).to_have_text("qr")
    await expect(page.locator("img.qr")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    assert (await tenant.client.get(f"/v1/sessions/{session_id}")).status_code == 404
    assert tab.errors == []
    # Between a stop and its status event, asking for the QR may meet 409 "not waiting for a scan";
    # the panel says so in place of the image, and nothing else was refused.
    assert set(tab.refused) <= {f"409 GET /v1/sessions/{session_id}/qr"}, tab.refused
