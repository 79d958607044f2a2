"""Business rules of the REST API and the WebSocket ``send`` frame.

Handlers parse, authorize and shape answers; everything that decides what
happens to a tenant, a session or a message lives here, so the two transports
can never disagree.
"""
