"""When the next attempt happens, or whether there is one.

The schedule lists the delay before each attempt (the first is usually 0).
Retries get +-20% jitter so a receiver that was down is not hit by every
delivery in the same second when it comes back. A ``Retry-After`` answer is
honoured (never earlier than the receiver asked, capped at 24 h), and never
makes Relay retry sooner than its own schedule would.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from webhooks.constants import RETRY_AFTER_MAX_SECONDS, RETRY_JITTER


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def jittered(delay: float) -> float:
    return delay * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)


def next_retry_delay(
    schedule: tuple[float, ...], scheduled_attempts_made: int, retry_after: float | None
) -> float | None:
    """Seconds until the next scheduled attempt, or None when the schedule is exhausted."""
    if scheduled_attempts_made >= len(schedule):
        return None
    delay = jittered(schedule[scheduled_attempts_made])
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
