"""What a worker needs to know about an endpoint, cached for a second.

Every delivery needs its endpoint's URL and secrets; reading the row per
delivery would double the database load at thousands of deliveries a second.
A one-second cache means a rotation or a disable reaches workers within a
second, which the rotation grace (24 h) and the disable semantics absorb.

The secrets are decrypted here, into this process's memory only (as HMAC keys
inside the signer): the cache is a dict, never Redis, so no plaintext secret
reaches Redis or its append-only file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from relay.core.crypto import SecretDecryptionError, decrypt_secret
from webhooks.constants import ENDPOINT_CACHE_SECONDS
from webhooks.models import WebhookEndpoint
from webhooks.signing import WebhookSigner
from webhooks.store import load_endpoints

log = logging.getLogger("relay.webhooks")


@dataclass(slots=True)
class EndpointView:
    id: str
    tenant_id: str
    url: str
    enabled: bool
    signer: WebhookSigner
    failing_since: datetime | None
    fetched_at: float
    # Local bookkeeping so endpoint rows are written on state changes, not per attempt.
    marked_failing: bool = False
    success_stamped_at: float = field(default=0.0)

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointView:
        secrets_in_use = [decrypt_secret(endpoint.encrypted_secret)]
        expires = endpoint.previous_secret_expires_at
        if endpoint.encrypted_previous_secret and expires is not None and expires > datetime.now(UTC):
            secrets_in_use.append(decrypt_secret(endpoint.encrypted_previous_secret))
        return cls(
            id=endpoint.id,
            tenant_id=endpoint.tenant_id,
            url=endpoint.url,
            enabled=endpoint.enabled,
            signer=WebhookSigner(secrets_in_use),
            failing_since=endpoint.failing_since,
            fetched_at=time.monotonic(),
        )


class EndpointCache:
    def __init__(self, ttl: float = ENDPOINT_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._views: dict[str, EndpointView] = {}
        # Endpoints whose secret none of this process's keys decrypts (a key replaced without
        # keeping the old one): their deliveries wait, the others go on.
        self.unreadable: set[str] = set()

    async def get_many(self, endpoint_ids: set[str]) -> dict[str, EndpointView]:
        now = time.monotonic()
        stale = {
            endpoint_id
            for endpoint_id in endpoint_ids
            if (view := self._views.get(endpoint_id)) is None or now - view.fetched_at > self.ttl
        }
        if stale:
            for endpoint_id in stale:
                self._views.pop(endpoint_id, None)
            for endpoint in await load_endpoints(list(stale)):
                try:
                    self._views[endpoint.id] = EndpointView.of(endpoint)
                except SecretDecryptionError as exc:
                    if endpoint.id not in self.unreadable:
                        log.error("webhook endpoint %s cannot sign: %s", endpoint.id, exc)
                    self.unreadable.add(endpoint.id)
                else:
                    self.unreadable.discard(endpoint.id)
        return {eid: self._views[eid] for eid in endpoint_ids if eid in self._views}

    def invalidate(self, endpoint_id: str) -> None:
        self._views.pop(endpoint_id, None)
