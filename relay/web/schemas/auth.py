"""Short-lived tokens for browsers and WebSocket clients."""

from __future__ import annotations

from typing import Annotated

from relay.core.schemas import Between, NullsOmitted, ResponseBody, Timestamp
from relay.web.auth import JWT_DEFAULT_TTL, JWT_MAX_TTL


class TokenCreate(NullsOmitted):
    ttl_seconds: Annotated[int, Between(1, JWT_MAX_TTL)] = JWT_DEFAULT_TTL


class Token(ResponseBody):
    token: str
    expires_at: Timestamp
