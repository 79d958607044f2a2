"""The REST API of the web process: every route, in one list.

Each module holds the routes of one resource; this package only assembles
them (plus the webhook routes and the WebSocket feed, owned elsewhere).
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    # Imported on call: route modules import ``relay.api.common``, and importing this
    # package must not drag every route (and the WebSocket feed) in with it.
    from relay.api import (
        auth_tokens,
        events,
        messages,
        openapi,
        ops,
        sandbox,
        sessions,
        tenants,
    )
    from relay.api import webhooks as webhook_routes
    from relay.ws import endpoint as websocket

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
        *websocket.routes,
    ]
