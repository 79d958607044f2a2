"""Security headers of the dashboard and the API reference: a strict Content-Security-Policy.

The pages run no inline script and load nothing from another origin, so the
policy can say exactly that: a script injected through some rendered value has
nowhere to come from and nowhere to send what it reads.
"""

from __future__ import annotations

# The dashboard: its own modules and stylesheet; QR images come from the API as blobs; the
# REST API and the WebSocket feed are on the same origin ('self' covers ws: and wss: there).
DASHBOARD_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Swagger UI sets style attributes from its React components and draws icons as data: SVGs.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Plain text (the WebSocket protocol): nothing in it may run or load anything.
TEXT_POLICY = "default-src 'none'; frame-ancestors 'none'"


def page_headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Asked again on every load: an upgrade of Relay shows at once.
        "Cache-Control": "no-cache",
    }
