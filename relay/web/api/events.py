"""``GET /v1/events``: the tenant's event history, the same envelopes webhooks carry."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.web.api.common import JSONResponse, page, page_params, require_tenant
from relay.web.services.events import list_events


async def event_history(request: Request) -> Response:
    tenant_id = require_tenant(request)
    limit, cursor = page_params(request)
    params = request.query_params
    events = await list_events(
        tenant_id,
        session_id=params.get("session_id") or None,
        event_type=params.get("type") or None,
        # `after` is the documented name; `cursor` is what every list's next_cursor feeds.
        after=params.get("after") or cursor,
        limit=limit,
    )
    return JSONResponse(page(events, limit))


routes = [Route("/v1/events", event_history, methods=["GET"])]
