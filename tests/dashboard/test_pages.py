"""The dashboard and the reference over plain HTTP: public, under a strict CSP; the API keeps its auth."""

from __future__ import annotations

import httpx
import pytest

from relay.web.dashboard.headers import DASHBOARD_POLICY, DOCS_POLICY


@pytest.mark.parametrize(
    ("path", "kind", "policy"),
    [
        ("/", "text/html", DASHBOARD_POLICY),
        ("/assets/main.js", "text/javascript", DASHBOARD_POLICY),
        ("/assets/views/session.js", "text/javascript", DASHBOARD_POLICY),
        ("/assets/style.css", "text/css", DASHBOARD_POLICY),
        ("/docs", "text/html", DOCS_POLICY),
        ("/docs/assets/swagger-ui-bundle.js", "text/javascript", DOCS_POLICY),
        ("/docs/websocket-feed", "text/plain", "default-src 'none'"),
    ],
)
async def test_pages_and_assets_need_no_token_and_carry_a_strict_policy(
    anonymous: httpx.AsyncClient, path: str, kind: str, policy: str
) -> None:
    response = await anonymous.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    assert response.headers["content-security-policy"].startswith(policy)
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_dashboard_policy_allows_no_inline_script_and_no_other_origin() -> None:
    directives = dict(part.strip().split(" ", 1) for part in DASHBOARD_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in DASHBOARD_POLICY
    assert all("http" not in value for value in directives.values())


async def test_the_page_runs_no_inline_script(anonymous: httpx.AsyncClient) -> None:
    for path in ("/", "/docs"):
        page = (await anonymous.get(path)).text
        assert page.count("<script") == page.count("<script src=") + page.count('<script type="module" src=')


async def test_the_api_still_needs_its_token_and_unknown_assets_are_404(anonymous: httpx.AsyncClient) -> None:
    refused = await anonymous.get("/v1/sessions")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await anonymous.get("/assets/nothing-here.js")).status_code == 404
    # The static mount serves its own directory only.
    assert (await anonymous.get("/assets/../pages.py")).status_code == 404


async def test_the_websocket_protocol_is_linked_from_the_reference_and_served(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    assert "/docs/websocket-feed" in document["info"]["description"]
    assert "/docs/websocket-feed" in document["paths"]["/v1/ws"]["get"]["description"]
    protocol = await anonymous.get("/docs/websocket-feed")
    assert protocol.text.startswith("## The WebSocket feed")
    assert '{"type":"subscribe"' in protocol.text
