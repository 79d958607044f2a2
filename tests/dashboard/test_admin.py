"""The admin manages tenants, their quotas and API keys from the dashboard; errors are shown."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import sign_in
from tests.stack import RelayStack


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_admin_creates_a_tenant_sets_quotas_and_creates_and_revokes_a_key(
    stack: RelayStack, tab: Tab
) -> None:
    page = tab.page
    await sign_in(page, stack, stack.admin_token)
    await expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    await expect(page.locator("#feed-state")).to_have_text("Admin")
    await page.get_by_label("Name").fill("initech")
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.get_by_role("heading", name="initech")).to_be_visible()
    tenant_id = page.url.rpartition("/")[2]

    await page.get_by_label("Sessions: limit").fill("3")
    await page.get_by_role("button", name="Save quotas").click()
    await expect(page.locator(".notice")).to_have_text("Quotas saved.")
    limits = page.get_by_role("region", name="Quotas and usage").get_by_role("row", name="Sessions")
    await expect(limits).to_contain_text("3")

    await page.get_by_label("Key name").fill("laptop")
    await page.get_by_role("button", name="Create API key").click()
    shown = page.locator("output.secret")
    await expect(shown).to_contain_text("rk_")
    key = await shown.inner_text()
    await tab.screenshot("tenant")

    # The key shown once works against the API, and the tenant's quota is the one just set.
    async with httpx.AsyncClient(base_url=stack.base_url, headers=bearer(key)) as key_client:
        assert (await key_client.get("/v1/sessions")).status_code == 200
    async with httpx.AsyncClient(base_url=stack.base_url, headers=bearer(stack.admin_token)) as admin:
        assert (await admin.get(f"/v1/tenants/{tenant_id}")).json()["max_sessions"] == 3

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Revoke key").click()
    await expect(page.get_by_role("region", name="API keys").locator("tbody tr")).to_have_count(0)
    async with httpx.AsyncClient(base_url=stack.base_url, headers=bearer(key)) as key_client:
        assert (await key_client.get("/v1/sessions")).status_code == 401

    await page.get_by_role("link", name="Back to tenants").click()
    await expect(page.locator(f"tr[data-tenant-id='{tenant_id}']")).to_contain_text("initech")
    await tab.screenshot("tenants")
    tab.assert_clean()


async def test_a_wrong_token_is_refused_with_the_servers_words(stack: RelayStack, tab: Tab) -> None:
    page = tab.page
    await page.goto(stack.base_url + "/")
    await page.get_by_label("API key or admin token").fill("rk_not_a_real_key")
    await page.get_by_role("button", name="Sign in").click()
    problem = page.locator(".problem")
    await expect(problem.locator(".problem-title")).to_have_text("Unauthorized")
    await expect(problem.locator(".problem-detail")).to_contain_text("missing or invalid bearer token")
    await expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    await tab.screenshot("sign-in-refused")
    assert tab.refused == ["401 POST /v1/auth/token"]
    assert tab.errors == []


async def test_an_invalid_field_is_shown_naming_it_and_creates_nothing(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    await page.get_by_label("Name").fill("proxied")
    await page.get_by_label("Proxy (optional)").fill("ftp://proxy.example:21")
    await page.get_by_role("button", name="Create session").click()
    problem = page.locator(".problem")
    await expect(problem.locator(".problem-title")).to_have_text("Unprocessable Content")
    await expect(problem).to_contain_text("proxy")
    # The refused field is marked and focused, ready to correct.
    proxy = page.get_by_label("Proxy (optional)")
    await expect(proxy).to_have_attribute("aria-invalid", "true")
    await expect(proxy).to_be_focused()
    await expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    await tab.screenshot("invalid-proxy")
    assert (await tenant.client.get("/v1/sessions")).json()["data"] == []
    # Dismissed by keyboard: the alert goes, the form keeps what was typed.
    await problem.get_by_role("button", name="Dismiss").press("Enter")
    await expect(problem).to_have_count(0)
    await expect(page.get_by_label("Name")).to_have_value("proxied")
    assert tab.refused == ["422 POST /v1/sessions"]
    assert tab.errors == []


async def test_a_quota_refusal_is_shown_with_its_limit(
    stack: RelayStack, admin: httpx.AsyncClient, tenant: TenantHandle, tab: Tab
) -> None:
    await admin.patch(f"/v1/tenants/{tenant.id}", json={"max_sessions": 0})
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    sessions = page.get_by_role("region", name="Quotas and usage").locator("tr[data-quota=max_sessions]")
    await expect(sessions.locator("td").nth(1)).to_have_text("0")
    await page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    await page.get_by_label("Name").fill("one too many")
    await page.get_by_role("button", name="Create session").click()
    problem = page.locator(".problem")
    await expect(problem.locator(".problem-title")).to_have_text("Quota exceeded")
    await expect(problem.locator(".problem-detail")).to_contain_text("max_sessions is 0")
    await tab.screenshot("quota-exceeded")
    assert tab.refused == ["429 POST /v1/sessions"]
    assert tab.errors == []


async def test_the_admin_sees_the_counts_across_every_tenant(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    created = await tenant.client.post("/v1/sessions", json={"name": "counted", "engine": "sandbox"})
    assert created.status_code == 201, created.text
    async with httpx.AsyncClient(base_url=stack.base_url, headers=bearer(stack.admin_token)) as admin:
        stats = (await admin.get("/v1/stats")).json()
    assert stats["scope"] == "cluster"
    page = tab.page
    await sign_in(page, stack, stack.admin_token)
    cluster = page.get_by_role("region", name="Across every tenant")
    total = sum(stats["sessions"].values())
    assert total >= 1
    await expect(cluster.locator("[data-tile=sessions] .tile-value")).to_have_text(str(total))
    await expect(cluster.locator("[data-tile=endpoints] .tile-value")).to_have_text(
        str(stats["webhooks"]["endpoints"])
    )
    await expect(cluster.locator(".status-counts li")).to_have_count(len(stats["sessions"]))
    await tab.screenshot("tenants-cluster")
    tab.assert_clean()
