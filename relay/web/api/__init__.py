"""The REST API of the web process: every route, in one list.

Each module declares the routes of one resource (``operations.Routes``); this
package only assembles them. The WebSocket feed (``relay.web.ws``) is a
sibling, joined in ``relay.web.app``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    # Imported on call: importing this package must not drag every route in with it.
    from relay.web.api import (
        auth_tokens,
        chats,
        events,
        groups,
        media,
        messages,
        openapi,
        ops,
        own_tenant,
        sandbox,
        sessions,
        stats,
        tenants,
    )
    from relay.web.api import webhooks as webhook_routes

    return [
        route
        for module in (
            ops,
            openapi,
            tenants,
            auth_tokens,
            sessions,
            sandbox,
            chats,
            groups,
            messages,
            media,
            events,
            webhook_routes,
            stats,
            own_tenant,
        )
        for route in module.routes.routes()
    ]
