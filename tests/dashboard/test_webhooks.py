"""A tenant registers a webhook from the dashboard and follows its deliveries and attempts."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import sign_in
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver, Reply


async def test_register_a_webhook_and_see_its_delivery_with_attempts(
    stack: RelayStack, tenant: TenantHandle, tab: Tab, receiver: Receiver
) -> None:
    # The receiver refuses the first attempt, so the log shows a failure and then the success.
    receiver.script("/hook", Reply(status=500, body="try later"), then=Reply(status=200, body="thanks"))
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    await page.get_by_label("URL").fill(receiver.url("/hook"))
    await page.get_by_label("Description (optional)").fill("orders service")
    await page.get_by_role("button", name="Create endpoint").click()
    secret = page.get_by_role("status").locator("output.secret")
    await expect(secret).to_contain_text("whsec_")
    await tab.screenshot("webhook-created")

    await page.get_by_role("link", name="Open the endpoint and its deliveries").click()
    await expect(page.get_by_role("heading", name="Webhook endpoint")).to_be_visible()
    await page.get_by_role("button", name="Send test").click()
    delivery = page.locator("li.delivery").first
    await expect(delivery).to_be_visible()
    # The retry schedule in the tests is 0, 1, 2 s: the second attempt succeeds a second later.
    refresh = page.get_by_role("button", name="Refresh deliveries")
    for _ in range(20):
        if await delivery.get_attribute("data-status") == "succeeded":
            break
        await page.wait_for_timeout(250)
        await refresh.click()
    await expect(delivery).to_have_attribute("data-status", "succeeded")
    await delivery.locator("summary").click()
    attempts = delivery.get_by_role("region", name="Attempts of").locator("tbody tr")
    await expect(attempts).to_have_count(2)
    await expect(attempts.nth(0)).to_contain_text("500")
    await expect(attempts.nth(0)).to_contain_text("try later")
    await expect(attempts.nth(1)).to_contain_text("200")
    await expect(attempts.nth(1)).to_contain_text("thanks")
    assert len(receiver.at("/hook")) == 2

    # Retry one by hand: a third attempt, logged with its trigger.
    await delivery.get_by_role("button", name="Retry delivery").click()
    for _ in range(20):
        if await attempts.count() == 3:
            break
        await page.wait_for_timeout(250)
        await refresh.click()
    await expect(attempts).to_have_count(3)
    await expect(attempts.nth(2)).to_contain_text("manual")
    await tab.screenshot("webhook-deliveries")

    # Disable and enable again; rotate the secret, shown once.
    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator("dl.details [data-status]")).to_have_text("disabled")
    await page.get_by_role("button", name="Enable").click()
    await expect(page.locator("dl.details [data-status]")).to_have_text("enabled")
    await page.get_by_role("button", name="Rotate secret").click()
    rotated = page.locator("output.secret")
    await expect(rotated).to_contain_text("whsec_")

    # Replay since long ago: the one test event is queued again.
    await page.get_by_label("Replay every matching event since").fill("2000-01-01T00:00:00")
    await page.get_by_role("button", name="Replay").click()
    await expect(page.get_by_role("status").filter(has_text="queued again")).to_contain_text("1 event")
    await tab.screenshot("webhook-endpoint")
    tab.assert_clean()


async def test_an_endpoint_filtered_by_event_and_session(
    stack: RelayStack, tenant: TenantHandle, tab: Tab, receiver: Receiver
) -> None:
    session = (await tenant.client.post("/v1/sessions", json={"name": "front", "engine": "sandbox"})).json()
    await tenant.client.post("/v1/sessions", json={"name": "back", "engine": "sandbox", "start": False})
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    await page.get_by_label("URL").fill(receiver.url("/filtered"))
    events = page.get_by_role("group", name="Events")
    await events.get_by_label("every event").uncheck()
    await events.get_by_label("message.received").check()
    await events.get_by_label("session.status").check()
    await page.get_by_role("group", name="Only these sessions").get_by_label("front").check()
    await tab.screenshot("webhook-filters")
    await page.get_by_role("button", name="Create endpoint").click()
    await expect(page.locator("output.secret")).to_contain_text("whsec_")

    endpoints = (await tenant.client.get("/v1/webhooks")).json()["data"]
    assert [(e["events"], e["session_ids"]) for e in endpoints] == [
        (["session.status", "message.received"], [session["id"]])
    ]
    row = page.locator(f"tr[data-webhook-id='{endpoints[0]['id']}']")
    await expect(row).to_contain_text("session.status, message.received")

    # Only the chosen session's events arrive: a scan of "front" is delivered.
    await tenant.client.post(f"/v1/sessions/{session['id']}/sandbox/scan", json={})
    await row.get_by_role("link").click()
    delivery = page.locator("li.delivery").first
    refresh = page.get_by_role("button", name="Refresh deliveries")
    for _ in range(20):
        if await delivery.count():
            break
        await page.wait_for_timeout(250)
        await refresh.click()
    await expect(delivery).to_be_visible()
    assert all(received.path == "/filtered" for received in receiver.received)
    tab.assert_clean()
