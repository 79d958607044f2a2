"""Which status changes count as a link attempt's outcome (relay_session_links_total)."""

from __future__ import annotations

import pytest

from relay.core.metrics import link_outcome
from workers.engines.base import QR_TIMEOUT_REASON


@pytest.mark.parametrize(
    ("previous", "status", "reason", "outcome"),
    [
        ("qr", "connected", None, "scanned"),
        ("pairing", "connected", None, "scanned"),
        ("qr", "stopped", QR_TIMEOUT_REASON, "expired"),
        ("pairing", "stopped", QR_TIMEOUT_REASON, "expired"),
        ("qr", "failed", "the phone refused", "failed"),
        ("qr", "reconnecting", "engine error: socket closed", "failed"),
        # Not an outcome: still linking, a stop asked through the API, a linked session resuming.
        ("qr", "pairing", None, None),
        ("qr", "qr", None, None),
        ("qr", "stopped", "stopped on request", None),
        ("starting", "connected", None, None),
        ("reconnecting", "connected", None, None),
    ],
)
def test_a_link_attempt_ends_scanned_expired_or_failed(
    previous: str, status: str, reason: str | None, outcome: str | None
) -> None:
    assert link_outcome(previous, status, reason) == outcome
