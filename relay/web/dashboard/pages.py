"""``GET /`` serves the dashboard's page and ``/assets/...`` its modules; no token needed for either.

Hash routes (``/#/sessions/ses_...``) keep every screen on this one page, so the
server knows a single URL and the API keeps its own auth for everything else.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response

from relay.web.api.operations import NOTHING, Access, Call, Routes
from relay.web.dashboard.files import ASSET_CONTENT, listed, serve
from relay.web.dashboard.headers import DASHBOARD_POLICY, page_headers

STATIC = Path(__file__).parent / "static"
HTML = {"text/html": {"schema": {"type": "string"}, "example": "<!doctype html>..."}}
ASSETS = listed(STATIC / "app")
# One module per screen; a new screen (groups, media) is a new file here and a line in main.js.
VIEWS = listed(STATIC / "app" / "views")

routes = Routes(tag="dashboard", access=Access.PUBLIC, needs=NOTHING)


@routes.add("GET", "/", "The dashboard (HTML page; its screens are hash routes)", content=HTML)
async def dashboard_page(call: Call[None]) -> Response:
    return FileResponse(STATIC / "index.html", headers=page_headers(DASHBOARD_POLICY))


@routes.add(
    "GET",
    "/assets/{asset}",
    "A file of the dashboard: its entry module, helpers, stylesheet or icon",
    content=ASSET_CONTENT,
    errors=(404,),
)
async def dashboard_asset(call: Call[None]) -> Response:
    return serve(ASSETS, call.path("asset"), DASHBOARD_POLICY)


@routes.add(
    "GET",
    "/assets/views/{view}",
    "A screen of the dashboard (ES module)",
    content=ASSET_CONTENT,
    errors=(404,),
)
async def dashboard_view(call: Call[None]) -> Response:
    return serve(VIEWS, call.path("view"), DASHBOARD_POLICY)
