"""The retry policy: schedule with jitter, Retry-After in both forms, capped at 24 h."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from webhooks.retry import next_retry_delay, parse_retry_after

SCHEDULE = (0.0, 5.0, 300.0)


def test_schedule_with_jitter_then_exhausted() -> None:
    delays = [next_retry_delay(SCHEDULE, 1, None) for _ in range(200)]
    assert all(4.0 <= d <= 6.0 for d in delays if d is not None)
    assert len({round(d, 3) for d in delays if d is not None}) > 1
    assert next_retry_delay(SCHEDULE, 3, None) is None


def test_retry_after_never_shortens_the_schedule() -> None:
    assert next_retry_delay(SCHEDULE, 1, 60.0) == 60.0
    delay = next_retry_delay(SCHEDULE, 2, 1.0)
    assert delay is not None and delay >= 240.0


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(minutes=2), usegmt=True), now) == 120.0
    assert parse_retry_after(format_datetime(now - timedelta(minutes=2), usegmt=True), now) == 0.0
    assert parse_retry_after("999999999") == 24 * 3600
    assert parse_retry_after(format_datetime(now + timedelta(days=3), usegmt=True), now) == 24 * 3600
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
