"""One wire format for every timestamp Relay writes (envelopes, REST bodies, attempt logs)."""

from __future__ import annotations

from datetime import UTC, datetime


def isoformat(moment: datetime) -> str:
    """``2026-11-22T10:00:00.123Z``: millisecond precision, always UTC."""
    # ``datetime.isoformat`` rather than ``strftime``: several times faster, and this runs for
    # every event and every webhook attempt. Its UTC suffix is always ``+00:00``.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def isoformat_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else isoformat(moment)


def now_ms() -> datetime:
    """Now, truncated to what ``isoformat`` shows, so a stored time and its text agree."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
