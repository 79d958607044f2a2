"""The webhook tests' loopback receiver, and the stack's database opened in the test process."""

from __future__ import annotations

from tests.webhooks.conftest import ledger  # noqa: F401
