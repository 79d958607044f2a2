"""Every screen at phone width and on a desktop: nothing wider than the screen, usable by keyboard."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import DESKTOP, PHONE, Tab, open_tab
from tests.dashboard.contrast import low_contrast
from tests.dashboard.flows import sign_in
from tests.dashboard.images import checkerboard, png
from tests.sessions import connected_sandbox_session
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver


async def assert_fits(page: Page) -> None:
    """Nothing wider than the screen, and every text readable against its background."""
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"
    assert await low_contrast(page) == [], page.url


@pytest.mark.parametrize(("width", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
async def test_every_tenant_screen_fits(
    stack: RelayStack,
    tenant: TenantHandle,
    receiver: Receiver,
    browser: Browser,
    tmp_path: Path,
    width: str,
    viewport: dict[str, int],
) -> None:
    session = (
        await tenant.client.post("/v1/sessions", json={"name": "front desk", "engine": "sandbox"})
    ).json()
    webhook = (await tenant.client.post("/v1/webhooks", json={"url": receiver.url("/hook")})).json()
    await tenant.client.post(f"/v1/webhooks/{webhook['id']}/test")
    tab: Tab = await open_tab(browser, tmp_path, f"layout-{width}", viewport)
    page = tab.page
    try:
        # By keyboard alone: the key field has focus on load, Enter signs in, focus lands on the heading.
        await page.goto(stack.base_url + "/")
        await expect(page.get_by_label("API key or admin token")).to_be_focused()
        await assert_fits(page)
        await tab.screenshot("sign-in")
        await page.keyboard.type(tenant.api_key)
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="Overview")).to_be_focused()
        await expect(page.locator(".tile").first).to_contain_text("1")
        for screen, hash_route, heading in [
            ("overview", "#/", "Overview"),
            ("sessions", "#/sessions", "Sessions"),
            ("session", f"#/sessions/{session['id']}", "front desk"),
            ("webhooks", "#/webhooks", "Webhooks"),
            ("webhook", f"#/webhooks/{webhook['id']}", "Webhook endpoint"),
        ]:
            await page.goto(f"{stack.base_url}/{hash_route}")
            await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            if screen == "session":
                await expect(page.locator("img.qr")).to_be_visible()
            await assert_fits(page)
            await tab.screenshot(screen)
        tab.assert_clean()
    finally:
        await page.context.close()


@pytest.mark.parametrize(("width", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
async def test_group_and_media_screens_fit(
    stack: RelayStack,
    tenant: TenantHandle,
    browser: Browser,
    tmp_path: Path,
    width: str,
    viewport: dict[str, int],
) -> None:
    session = await connected_sandbox_session(tenant.client, "front desk")
    group = (
        await tenant.client.post(
            f"/v1/sessions/{session['id']}/groups",
            json={"subject": "Weekend rota", "participants": ["15551112222", "15553334444"]},
        )
    ).json()
    image = base64.b64encode(png(checkerboard(48, 32))).decode()
    for body in (
        {"from": "15557654321", "type": "image", "media": {"base64": image},
         "filename": "rota-photo-2026-11-27.png"},
        {"from": "15557654321", "type": "document", "media": {"base64": image}, "filename": "rota.pdf",
         "mimetype": "application/pdf"},
    ):  # fmt: skip
        assert (
            await tenant.client.post(f"/v1/sessions/{session['id']}/sandbox/inbound", json=body)
        ).status_code == 202
    tab: Tab = await open_tab(browser, tmp_path, f"layout-{width}", viewport)
    page = tab.page
    try:
        await sign_in(page, stack, tenant.api_key)
        await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
        history = page.get_by_role("region", name="Inbound messages")
        await expect(history.get_by_role("img", name="Image rota-photo-2026-11-27.png")).to_be_visible()
        await expect(history.get_by_role("link", name="Download rota.pdf")).to_be_visible()
        await assert_fits(page)
        await tab.screenshot("session-media")
        await page.goto(f"{stack.base_url}/#/sessions/{session['id']}/groups")
        await expect(page.get_by_role("region", name="Group list").locator("tbody tr")).to_have_count(1)
        await assert_fits(page)
        await tab.screenshot("groups")
        await page.goto(f"{stack.base_url}/#/sessions/{session['id']}/groups/{group['jid']}")
        await expect(page.get_by_role("heading", name="Weekend rota")).to_be_visible()
        await expect(
            page.get_by_role("region", name="Participants", exact=True).locator("tbody tr")
        ).to_have_count(3)
        await assert_fits(page)
        await tab.screenshot("group")
        tab.assert_clean()
    finally:
        await page.context.close()


async def test_admin_screens_fit_a_phone(
    stack: RelayStack, tenant: TenantHandle, browser: Browser, tmp_path: Path
) -> None:
    tab = await open_tab(browser, tmp_path, "layout-phone-admin", PHONE)
    page = tab.page
    try:
        await page.goto(stack.base_url + "/")
        await page.get_by_label("API key or admin token").fill(stack.admin_token)
        await page.get_by_label("API key or admin token").press("Enter")
        await expect(page.get_by_role("heading", name="Tenants")).to_be_focused()
        await assert_fits(page)
        await tab.screenshot("tenants")
        await page.goto(f"{stack.base_url}/#/tenants/{tenant.id}")
        await expect(page.get_by_role("heading", name="acme")).to_be_visible()
        await expect(page.get_by_role("region", name="API keys").locator("tbody tr")).to_have_count(1)
        await assert_fits(page)
        await tab.screenshot("tenant")
        tab.assert_clean()
    finally:
        await page.context.close()


async def test_the_contrast_check_finds_faint_text(tab: Tab) -> None:
    """The check above is not vacuous: it names faint text and text dark on a dark background."""
    await tab.page.set_content(
        '<p style="color:#aaa">faint</p><p>fine</p>'
        '<div style="background:#1b2733"><span style="color:#333">dark on dark</span></div>'
    )
    assert await low_contrast(tab.page) == ["2.32:1 <P> faint", "1.20:1 <SPAN> dark on dark"]
