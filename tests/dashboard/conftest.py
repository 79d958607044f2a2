"""A real headless Chromium (Debian's ``chromium``) driven by Playwright, against the real stack.

Every request the page makes is recorded, every console error and failed
request kept, and each screen saved as a screenshot under the test's tmp dir
and under ``tests/artifacts/`` (git-ignored) to look at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Response, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = not CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM_MISSING:
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Tab:
    """One browser page and what it did: its requests, refusals, script errors and screenshots."""

    page: Page
    shots: Path
    name: str
    requests: list[str] = field(default_factory=list)
    # "STATUS METHOD path" of every answer >= 400 (an API refusal the page shows, or a missing file).
    refused: list[str] = field(default_factory=list)
    # Uncaught exceptions and console errors other than the browser's own note on a refusal.
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.refused == [], self.refused

    async def screenshot(self, screen: str, *, full_page: bool = True) -> Path:
        path = self.shots / f"{self.name}-{screen}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(path, ARTIFACTS / path.name)
        return path


async def open_tab(browser: Browser, tmp_path: Path, name: str, viewport: dict[str, int]) -> Tab:
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    tab = Tab(page=page, shots=tmp_path, name=name)

    def record(request: Request) -> None:
        tab.requests.append(request.url)

    def answered(response: Response) -> None:
        if response.status >= 400:
            path = response.url.partition("://")[2].partition("/")[2]
            tab.refused.append(f"{response.status} {response.request.method} /{path}")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            tab.errors.append(message.text)

    page.on("request", record)
    page.on("response", answered)
    page.on("console", console)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


@pytest.fixture
async def tab(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Tab]:
    name = re.sub(r"\W+", "-", request.node.name).strip("-")
    opened = await open_tab(browser, tmp_path, name, DESKTOP)
    try:
        yield opened
    finally:
        await opened.page.context.close()
