"""``/docs`` in the browser: Swagger UI for /openapi.json, with no request leaving 127.0.0.1."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import expect

from tests.dashboard.conftest import Tab
from tests.stack import RelayStack


async def test_the_api_reference_loads_with_every_request_on_loopback(stack: RelayStack, tab: Tab) -> None:
    page = tab.page
    await page.goto(stack.base_url + "/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Relay")
    create = page.locator("#operations-sessions-create_session")
    await expect(create).to_contain_text("Create a session")
    await create.locator(".opblock-summary").click()
    await expect(create.locator(".opblock-body")).to_contain_text("Request body")
    await expect(create.locator(".opblock-body")).to_contain_text("201")
    await page.wait_for_load_state("networkidle")
    await tab.screenshot("docs", full_page=False)

    assert tab.requests, "the page made no request at all"
    hosts = {urlsplit(url).hostname for url in tab.requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, tab.requests
    tab.assert_clean()

    # The WebSocket protocol is linked from the reference and served by Relay itself.
    await page.get_by_role("link", name="WebSocket feed protocol").click()
    await expect(page.locator("body")).to_contain_text("## The WebSocket feed")
