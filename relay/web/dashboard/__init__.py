"""The operator's dashboard at ``/`` and the API reference at ``/docs``.

Plain ES modules and a stylesheet shipped inside the package (``static/``), no
build step and no CDN. The dashboard is a client of Relay like any other: it
talks only to the public REST API and the WebSocket feed, with the token the
user signs in with, so it can do nothing an integrator could not.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    from relay.web.dashboard import docs, pages

    return [*pages.routes.routes(), *docs.routes.routes()]
