"""Standard Webhooks v1 signatures, byte-exact.

Signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; the header
value is ``v1,<base64 HMAC-SHA256>``, several space-separated during a secret
rotation so receivers holding either secret accept the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (the spec asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key is the base64-decoded part after the prefix, as every verifier expects."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSigner:
    """Signs with the current key and, during a rotation's grace, the previous one too.

    Each key is decoded and keyed into an HMAC once per signer (the key's inner and outer
    pads hashed up front); an attempt copies that state and hashes only its own content.
    """

    __slots__ = ("_keyed",)

    def __init__(self, secrets_in_use: list[str]) -> None:
        self._keyed = [hmac.new(secret_key(secret), digestmod=hashlib.sha256) for secret in secrets_in_use]

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        content = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
        signatures = []
        for keyed in self._keyed:
            mac = keyed.copy()
            mac.update(content)
            signatures.append("v1," + base64.b64encode(mac.digest()).decode())
        return " ".join(signatures)

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        signature = self.signature(msg_id, timestamp, body)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
