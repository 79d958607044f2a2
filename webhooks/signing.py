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

    Keys are decoded once per signer so each attempt only pays for the HMACs.
    """

    __slots__ = ("keys",)

    def __init__(self, secrets_in_use: list[str]) -> None:
        self.keys = [secret_key(secret) for secret in secrets_in_use]

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        signature = " ".join(sign(key, msg_id, timestamp, body) for key in self.keys)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
