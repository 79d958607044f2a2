"""``GET /docs``: the interactive API reference (Swagger UI) for ``/openapi.json``, served locally.

Swagger UI's files come from the ``openapi-ui-bundles`` package on PyPI (Swagger UI
5, the first to read OpenAPI 3.1; pinned in pyproject.toml) rather than committed
here: 1.8 MB of minified JavaScript does not belong in Relay's history, and pip
upgrades it like any dependency.
Its start-up code is our own module (``static/app/api-reference.js``): no
inline script, and no request to Swagger's online validator.
"""

from __future__ import annotations

from openapi_ui_bundles import swagger_ui
from starlette.responses import FileResponse, Response

from relay.web.api.operations import NOTHING, Access, Call, Routes
from relay.web.dashboard.files import ASSET_CONTENT, listed, serve
from relay.web.dashboard.headers import DOCS_POLICY, TEXT_POLICY, page_headers
from relay.web.dashboard.pages import HTML, STATIC

WEBSOCKET_PROTOCOL_PATH = "/docs/websocket-feed"
# The two files the page loads; the package's own index.html would start Swagger UI on its demo.
SWAGGER_UI = listed(swagger_ui.static_path, ["swagger-ui.css", "swagger-ui-bundle.js"])

routes = Routes(tag="dashboard", access=Access.PUBLIC, needs=NOTHING)


@routes.add("GET", "/docs", "The interactive API reference (Swagger UI, HTML)", content=HTML)
async def api_reference_page(call: Call[None]) -> Response:
    return FileResponse(STATIC / "api-reference.html", headers=page_headers(DOCS_POLICY))


@routes.add(
    "GET",
    WEBSOCKET_PROTOCOL_PATH,
    "The WebSocket feed's protocol: auth, frames, resume, close codes (Markdown)",
    content={"text/plain": {"schema": {"type": "string"}, "example": "## The WebSocket feed\n..."}},
)
async def websocket_protocol(call: Call[None]) -> Response:
    return FileResponse(
        STATIC / "websocket-feed.md",
        media_type="text/plain; charset=utf-8",
        headers=page_headers(TEXT_POLICY),
    )


@routes.add(
    "GET",
    "/docs/assets/{asset}",
    "Swagger UI's script and stylesheet",
    content=ASSET_CONTENT,
    errors=(404,),
)
async def api_reference_asset(call: Call[None]) -> Response:
    return serve(SWAGGER_UI, call.path("asset"), DOCS_POLICY)
