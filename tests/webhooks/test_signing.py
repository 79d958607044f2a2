"""Our signatures, checked by the Standard Webhooks reference library only."""

from __future__ import annotations

import base64
import time

from standardwebhooks import Webhook

from webhooks.signing import WebhookSigner, generate_secret


def test_secret_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_byte_exact_signature_over_raw_body() -> None:
    secret = generate_secret()
    body = '{"id":"evt_1","data":{"text":"h\\u00e9llo 👋"}}'.encode()
    headers = WebhookSigner([secret]).headers("evt_1", int(time.time()), body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"id": "evt_1", "data": {"text": "héllo 👋"}}


def test_rotation_signs_with_both_secrets() -> None:
    old, new = generate_secret(), generate_secret()
    body = b'{"id":"evt_2"}'
    headers = WebhookSigner([new, old]).headers("evt_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
