"""``GET /`` serves the dashboard's page, ``/assets/`` its modules and stylesheet; no auth on either.

Hash routes (``/#/sessions/ses_...``) keep every screen on this one page, so the
server knows a single URL and the API keeps its own auth for everything else.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from relay.web.api.operations import NOTHING, Access, Call, Routes
from relay.web.dashboard.headers import DASHBOARD_POLICY, WithHeaders, page_headers

STATIC = Path(__file__).parent / "static"
HTML = {"text/html": {"schema": {"type": "string"}, "example": "<!doctype html>..."}}

routes = Routes(tag="dashboard", access=Access.PUBLIC, needs=NOTHING)


@routes.add("GET", "/", "The dashboard (HTML page; its screens are hash routes)", content=HTML)
async def dashboard_page(call: Call[None]) -> Response:
    return FileResponse(STATIC / "index.html", headers=page_headers(DASHBOARD_POLICY))


assets = Mount(
    "/assets",
    app=WithHeaders(StaticFiles(directory=STATIC / "app"), page_headers(DASHBOARD_POLICY)),
    name="dashboard_assets",
)
