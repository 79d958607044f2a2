"""The REST API of the web process: every route, in one list.

Each module holds the routes of one resource; this package only assembles
them. The WebSocket feed (``relay.web.ws``) is a sibling, joined in ``relay.web.app``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    # Imported on call: route modules import ``relay.web.api.common``, and importing this
    # package must not drag every route in with it.
    from relay.web.api import (
        auth_tokens,
        events,
        messages,
        openapi,
        ops,
        sandbox,
        sessions,
        tenants,
    )
    from relay.web.api import webhooks as webhook_routes

    return [
        *ops.routes,
        *openapi.routes,
        *tenants.routes,
        *auth_tokens.routes,
        *sessions.routes,
        *sandbox.routes,
        *messages.routes,
        *events.routes,
        *webhook_routes.routes,
    ]
