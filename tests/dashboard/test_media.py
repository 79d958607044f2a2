"""Received media in the dashboard: a thumbnail of the very pixels sent, downloads of the very
bytes, the status following message.media, and messages held while offline marked as such."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from playwright.async_api import Locator, expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import sign_in
from tests.dashboard.images import checkerboard, png
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of, wait_for_status
from tests.stack import RelayStack
from tests.workers.private_stack import private_relay

# Draws the <img> on a canvas at its natural size and reads every pixel back as [r, g, b] lists.
READ_PIXELS = """image => {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const rows = [];
  for (let y = 0; y < canvas.height; y += 1) {
    const row = [];
    for (let x = 0; x < canvas.width; x += 1) {
      const at = (y * canvas.width + x) * 4;
      row.push([data[at], data[at + 1], data[at + 2]]);
    }
    rows.push(row);
  }
  return rows;
}"""


async def downloaded_sha256(tab: Tab, link: Locator) -> str:
    async with tab.page.expect_download() as started:
        await link.click()
    download = await started.value
    path = await download.path()
    return hashlib.sha256(await asyncio.to_thread(Path(path).read_bytes)).hexdigest()


async def test_an_inbound_image_shows_as_its_pixels_and_downloads_as_its_bytes(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    session = await connected_sandbox_session(tenant.client, "media")
    pixels = checkerboard(6, 4)
    image = png(pixels)
    document = b"%PDF-1.4\n" + bytes(range(256)) * 8
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
    await expect(page.locator("dd[data-field=Status]")).to_have_text("connected")

    for body in (
        {"from": "15557654321", "type": "image", "media": {"base64": base64.b64encode(image).decode()},
         "filename": "board.png", "caption": "the board"},
        {"from": "15557654321", "type": "document", "media": {"base64": base64.b64encode(document).decode()},
         "mimetype": "application/pdf", "filename": "minutes.pdf"},
    ):  # fmt: skip
        sent = await tenant.client.post(f"/v1/sessions/{session['id']}/sandbox/inbound", json=body)
        assert sent.status_code == 202, sent.text

    async def both_stored() -> list[dict[str, Any]] | None:
        events = await events_of(tenant.client, session["id"], "message.media")
        return events if len(events) == 2 else None

    stored = {
        event["data"]["media"]["filename"]: event["data"]["media"] for event in await wait_until(both_stored)
    }
    assert {media["status"] for media in stored.values()} == {"stored"}

    # The live stream: message.received said `pending`; message.media redrew the same block as stored.
    stream = page.locator("ol.stream")
    received = stream.locator("li[data-type='message.received']")
    await expect(received).to_have_count(2)
    image_block = received.locator(f".media[data-media-id='{stored['board.png']['id']}']")
    await expect(image_block).to_have_attribute("data-media-status", "stored")
    await expect(image_block).to_contain_text("board.png")
    await expect(image_block).to_contain_text(f"({len(image)} bytes)")
    thumbnail = image_block.get_by_role("img", name="Image board.png")
    await expect(thumbnail).to_be_visible()
    assert (await thumbnail.get_attribute("src") or "").startswith("blob:")
    assert await thumbnail.evaluate(READ_PIXELS) == [[list(pixel) for pixel in row] for row in pixels]

    # The history table shows both, the document with a link and no thumbnail.
    history = page.get_by_role("region", name="Inbound messages")
    await expect(history.locator(".media[data-media-status=stored]")).to_have_count(2)
    document_block = history.locator(f".media[data-media-id='{stored['minutes.pdf']['id']}']")
    await expect(document_block).to_contain_text("document minutes.pdf (2.0 KB)")
    await expect(document_block.locator("img")).to_have_count(0)
    await tab.screenshot("session-media")

    image_link = history.get_by_role("link", name="Download board.png")
    assert await downloaded_sha256(tab, image_link) == hashlib.sha256(image).hexdigest()
    assert stored["board.png"]["sha256"] == hashlib.sha256(image).hexdigest()
    # The document's bytes are fetched only when its link is clicked.
    document_link = history.get_by_role("link", name="Download minutes.pdf")
    assert await document_link.get_attribute("href") == "#"
    assert await downloaded_sha256(tab, document_link) == hashlib.sha256(document).hexdigest()

    # A new visit draws the history from the ledger, whose message.received still says pending:
    # the page reads the message.media events that followed and says stored.
    ledger = await events_of(tenant.client, session["id"], "message.received")
    assert {event["data"]["media"]["status"] for event in ledger} == {"pending"}
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
    history = page.get_by_role("region", name="Inbound messages")
    await expect(history.locator(".media[data-media-status=stored]")).to_have_count(2)
    await expect(history.get_by_role("img", name="Image board.png")).to_be_visible()
    tab.assert_clean()


async def test_messages_held_while_offline_are_marked(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    session = await connected_sandbox_session(tenant.client, "offline")
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
    await expect(page.locator("dd[data-field=Status]")).to_have_text("connected")
    live = await tenant.client.post(
        f"/v1/sessions/{session['id']}/sandbox/inbound", json={"from": "15557654321", "text": "while online"}
    )
    assert live.status_code == 202, live.text
    history = page.get_by_role("region", name="Inbound messages")
    await expect(history.locator("tbody tr")).to_have_count(1)

    dropped = await tenant.client.post(f"/v1/sessions/{session['id']}/sandbox/drop", json={"seconds": 3})
    assert dropped.status_code == 202, dropped.text
    await wait_for_status(tenant.client, session["id"], "reconnecting")
    held = await tenant.client.post(
        f"/v1/sessions/{session['id']}/sandbox/inbound", json={"from": "15557654321", "text": "while away"}
    )
    assert held.status_code == 202, held.text
    await expect(page.locator("ol.stream li[data-type='session.synced']")).to_have_count(1)

    rows = history.locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="while away").locator(".badge-offline")).to_have_text("offline")
    await expect(rows.filter(has_text="while online").locator(".badge-offline")).to_have_count(0)
    await expect(page.locator("ol.stream li[data-type='message.received'] .badge-offline")).to_have_count(1)
    tab.assert_clean()


async def test_a_media_relay_will_not_store_shows_why(
    relay_env: dict[str, str], tmp_path: Path, tab: Tab
) -> None:
    async with private_relay(
        relay_env, tmp_path, name="dashboard_media_limit", RELAY_MEDIA_MAX_BYTES="1000"
    ) as relay:
        session = await connected_sandbox_session(relay.tenant, "limited")
        page = tab.page
        await sign_in(page, relay.relay, relay.tenant.headers["Authorization"].removeprefix("Bearer "))
        await page.goto(f"{relay.relay.base_url}/#/sessions/{session['id']}")
        await expect(page.locator("dd[data-field=Status]")).to_have_text("connected")
        large = os.urandom(3000)
        body = {"from": "15557654321", "type": "image", "media": {"base64": base64.b64encode(large).decode()}}
        sent = await relay.tenant.post(f"/v1/sessions/{session['id']}/sandbox/inbound", json=body)
        assert sent.status_code == 202, sent.text
        history = page.get_by_role("region", name="Inbound messages")
        block = history.locator(".media[data-media-status=unavailable]")
        await expect(block).to_contain_text(f"the media is {len(large)} bytes, more than this Relay stores")
        await expect(block.get_by_role("img")).to_have_count(0)
        await expect(block.get_by_role("link")).to_have_count(0)
        await tab.screenshot("media-unavailable")
        tab.assert_clean()
