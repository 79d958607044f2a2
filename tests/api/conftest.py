"""Fixtures the API tests borrow: the loopback webhook receiver (group events reach a real one)."""

from __future__ import annotations

from tests.webhooks.conftest import receiver  # noqa: F401
