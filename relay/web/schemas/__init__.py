"""Every request and response body of the REST API, declared once as a pydantic model.

The route declarations (``relay.web.api.operations``) validate requests with
these models and ``/openapi.json`` is generated from the same declarations, so
what a route accepts and what it documents cannot drift apart. Webhook bodies
live beside their logic in ``webhooks.schemas``.
"""
