"""Who is calling: the admin, or a tenant through an API key or a short-lived JWT.

Used by both the REST middleware and the WebSocket handshake so the two can
never disagree about a token. A JWT names the API key it was minted with and
dies with it (``relay.web.revocation``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from relay.core.config import Settings
from relay.core.models import ApiKey
from relay.web.revocation import live_keys

API_KEY_PREFIX = "rk_"
JWT_ALGORITHM = "HS256"
JWT_MAX_TTL = 24 * 3600
JWT_DEFAULT_TTL = 3600
# last_used_at is written at most this often per key, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    role: Literal["admin", "tenant"]
    tenant_id: str | None = None
    subject: str = ""
    # The API key behind a tenant principal, whether it presented the key or a JWT minted with it.
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def issue_jwt(settings: Settings, *, tenant_id: str, key_id: str, ttl_seconds: int) -> tuple[str, datetime]:
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    claims = {"sub": key_id, "key_id": key_id, "tenant_id": tenant_id, "role": "tenant", "exp": expires_at}
    return jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM), expires_at


async def authenticate_token(token: str | None, settings: Settings) -> Principal | None:
    """Resolve a bearer token; ``None`` for anything unknown, expired or malformed."""
    if not token:
        return None
    if settings.admin_token and hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        return Principal(role="admin", subject="admin")
    if token.startswith(API_KEY_PREFIX):
        return await _authenticate_api_key(token)
    if token.count(".") == 2:
        return await _authenticate_jwt(token, settings)
    return None


async def _authenticate_api_key(token: str) -> Principal | None:
    key = await ApiKey.get_or_none(key_hash=hash_api_key(token))
    if key is None:
        return None
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        await ApiKey.filter(id=key.id).update(last_used_at=now)
    return Principal(role="tenant", tenant_id=key.tenant_id, subject=key.id, key_id=key.id)


async def _authenticate_jwt(token: str, settings: Settings) -> Principal | None:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "tenant_id", "role"]},
        )
    except jwt.PyJWTError:
        return None
    tenant_id = claims.get("tenant_id")
    # Tokens minted before the key_id claim carry the key's id as their subject.
    key_id = claims.get("key_id", claims["sub"])
    if claims.get("role") != "tenant" or not isinstance(tenant_id, str) or not isinstance(key_id, str):
        return None
    # A token outlives nothing: revoking its key (or deleting its tenant) ends it.
    if not await live_keys.is_live(key_id, tenant_id):
        return None
    return Principal(role="tenant", tenant_id=tenant_id, subject=key_id, key_id=key_id)
