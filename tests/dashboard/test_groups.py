"""A tenant runs a sandbox session's groups from the dashboard: create, add (one number fails, and
says why), promote, rename, read the invite link, leave; the group's events arrive live."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import TenantHandle
from tests.dashboard.conftest import Tab
from tests.dashboard.flows import sign_in
from tests.sessions import connected_sandbox_session
from tests.stack import RelayStack


def member(number: str) -> str:
    return f"{number}@s.whatsapp.net"


async def test_create_a_group_add_people_and_watch_its_events(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    session = await connected_sandbox_session(tenant.client, "groups")
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
    await page.get_by_role("link", name="Groups of this session").click()
    await expect(page.get_by_role("heading", name="Groups of groups")).to_be_visible()
    await expect(page.get_by_text("This session is in no group yet.")).to_be_visible()

    # A number ending in 0 is not on WhatsApp in the sandbox: the create leaves it out.
    create = page.get_by_role("form", name="New group")
    await create.get_by_label("Subject").fill("Night shift")
    await create.get_by_label("Participants").fill("15551112222, 15551113330")
    await create.get_by_role("button", name="Create group").click()
    await expect(page.get_by_role("heading", name="Night shift")).to_be_visible()
    members = page.get_by_role("region", name="Participants", exact=True).locator("tbody tr")
    await expect(members).to_have_count(2)
    await expect(members.and_(page.locator(f"[data-jid='{member('15551112222')}']"))).to_contain_text(
        "member"
    )
    jid = page.url.rpartition("/")[2].replace("%40", "@")
    listed = (await tenant.client.get(f"/v1/sessions/{session['id']}/groups")).json()["data"]
    assert [group["jid"] for group in listed] == [jid]

    changes = page.get_by_role("form", name="Change participants")
    await changes.get_by_label("Change").select_option("add")
    await changes.get_by_label("Numbers").fill("15554445555\n15554445550")
    await changes.get_by_role("button", name="Apply").click()
    results = changes.get_by_role("region", name="Participant results").locator("tbody tr")
    await expect(results).to_have_count(2)
    await expect(changes).to_contain_text("1 of 2 not changed")
    await expect(results.and_(page.locator(f"[data-jid='{member('15554445555')}']"))).to_contain_text("ok")
    failed = results.and_(page.locator(f"[data-jid='{member('15554445550')}']"))
    await expect(failed).to_have_attribute("data-ok", "false")
    await expect(failed).to_contain_text("not on WhatsApp")
    await expect(members).to_have_count(3)
    stream = page.locator("ol.stream")
    added = stream.locator("li[data-type='group.participants']")
    await expect(added).to_have_count(1)
    await expect(added).to_contain_text(member("15554445555"))
    await expect(added).not_to_contain_text(member("15554445550"))

    await changes.get_by_label("Change").select_option("promote")
    await changes.get_by_label("Numbers").fill("15554445555")
    await changes.get_by_role("button", name="Apply").click()
    await expect(changes).to_contain_text("All 1 changed.")
    promoted = members.and_(page.locator(f"[data-jid='{member('15554445555')}']"))
    await expect(promoted.locator("[data-status]")).to_have_text("admin")
    await expect(stream.locator("li[data-type='group.participants']")).to_have_count(2)

    edit = page.get_by_role("form", name="Subject and description")
    await edit.get_by_label("Subject").fill("Night shift crew")
    await edit.get_by_label("Description").fill("Who covers 22:00 to 06:00")
    await edit.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name="Night shift crew")).to_be_visible()
    await expect(page.locator("dd[data-field=Description]")).to_have_text("Who covers 22:00 to 06:00")
    await expect(stream.locator("li[data-type='group.updated']")).to_have_count(1)
    # A rename made elsewhere arrives live, in the heading and in the form.
    renamed = await tenant.client.patch(
        f"/v1/sessions/{session['id']}/groups/{jid}", json={"subject": "Night crew"}
    )
    assert renamed.status_code == 200, renamed.text
    await expect(page.get_by_role("heading", name="Night crew")).to_be_visible()
    await expect(edit.get_by_label("Subject")).to_have_value("Night crew")
    await expect(stream.locator("li[data-type='group.updated']")).to_have_count(2)

    invite = page.get_by_role("region", name="Invite link")
    await invite.get_by_role("button", name="Show invite link").click()
    await expect(invite.get_by_role("link")).to_have_text(
        (await tenant.client.get(f"/v1/sessions/{session['id']}/groups/{jid}/invite-link")).json()["link"]
    )
    await tab.screenshot("group")

    await page.get_by_role("link", name="Back to groups").click()
    await expect(page.get_by_role("region", name="Group list").locator("tbody tr")).to_have_count(1)
    await expect(page.locator(f"tr[data-jid='{jid}']")).to_contain_text("3")
    await tab.screenshot("groups")

    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("link", name="Night crew").click()
    await page.get_by_role("button", name="Leave group").click()
    await expect(page.get_by_role("heading", name="Groups of groups")).to_be_visible()
    await expect(page.get_by_text("This session is in no group yet.")).to_be_visible()
    tab.assert_clean()


async def test_a_group_call_on_a_stopped_session_shows_the_refusal(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    created = await tenant.client.post("/v1/sessions", json={"name": "asleep", "engine": "sandbox"})
    session = created.json()
    await tenant.client.post(f"/v1/sessions/{session['id']}/stop")
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}/groups")
    problem = page.locator(".problem[data-status='409']")
    await expect(problem).to_contain_text("needs it connected")
    assert tab.refused == [f"409 GET /v1/sessions/{session['id']}/groups?limit=26"]


async def test_the_group_list_pages_by_jid(stack: RelayStack, tenant: TenantHandle, tab: Tab) -> None:
    session = await connected_sandbox_session(tenant.client, "many groups")
    for number in range(27):
        created = await tenant.client.post(
            f"/v1/sessions/{session['id']}/groups", json={"subject": f"Team {number:02}"}
        )
        assert created.status_code == 201, created.text
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}/groups")
    rows = page.get_by_role("region", name="Group list").locator("tbody tr")
    await expect(rows).to_have_count(25)
    await page.get_by_role("button", name="Load more").click()
    await expect(rows).to_have_count(27)
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    listed = [await row.get_attribute("data-jid") for row in await rows.all()]
    assert listed == sorted(listed) and len(set(listed)) == 27
    tab.assert_clean()


async def test_group_events_appear_in_the_session_stream(
    stack: RelayStack, tenant: TenantHandle, tab: Tab
) -> None:
    session = await connected_sandbox_session(tenant.client, "stream")
    page = tab.page
    await sign_in(page, stack, tenant.api_key)
    await page.goto(f"{stack.base_url}/#/sessions/{session['id']}")
    await expect(page.locator("dd[data-field=Status]")).to_have_text("connected")
    # A contact puts the session in a group; then the session creates one and adds someone to it.
    joined = await tenant.client.post(
        f"/v1/sessions/{session['id']}/sandbox/join-group", json={"from": "15556667777", "subject": "Family"}
    )
    assert joined.status_code == 202, joined.text
    created = await tenant.client.post(f"/v1/sessions/{session['id']}/groups", json={"subject": "Shop"})
    assert created.status_code == 201, created.text
    changed = await tenant.client.post(
        f"/v1/sessions/{session['id']}/groups/{created.json()['jid']}/participants",
        json={"add": ["15558889999"]},
    )
    assert changed.status_code == 200, changed.text
    stream = page.locator("ol.stream")
    await expect(stream.locator("li[data-type='group.joined']")).to_have_count(2)
    await expect(stream.locator("li[data-type='group.joined']").filter(has_text="Family")).to_have_count(1)
    participants = stream.locator("li[data-type='group.participants']")
    await expect(participants).to_have_count(1)
    await expect(participants).to_contain_text(member("15558889999"))
    tab.assert_clean()
