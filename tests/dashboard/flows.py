"""What a user does in the dashboard, in a few steps each tests reuses."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.stack import RelayStack


async def sign_in(page: Page, stack: RelayStack, secret: str) -> None:
    await page.goto(stack.base_url + "/")
    await page.get_by_label("API key or admin token").fill(secret)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def create_sandbox_session(page: Page, name: str) -> str:
    """Creates a session from the Sessions screen; returns its id, read from the page it opens."""
    await page.get_by_role("navigation").get_by_role("link", name="Sessions").click()
    await expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Engine").select_option("sandbox")
    await page.get_by_role("button", name="Create session").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url.rpartition("/")[2]
