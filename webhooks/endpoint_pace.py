"""How fast each endpoint's attempts end: whether a delivery over its in-flight cap is worth holding.

A delivery claimed for an endpoint that already has ``ENDPOINT_INFLIGHT_CAP``
attempts in flight is either held by the worker (started as an attempt ends: no
write, no second claim) or given back for later (a row update, a Redis round
trip, a second claim). Holding is right for an endpoint that answers in
milliseconds, where a burst of thousands is gone in well under a second;
giving back is right for a slow one, whose held deliveries would sit on lane
slots other endpoints need. The pace tells them apart: an endpoint's attempt
time is the larger of its recent attempts' average and the age of its oldest
attempt still in flight (so a new endpoint that hangs shows as slow before any of
its attempts has ended).
"""

from __future__ import annotations

import time
from collections import defaultdict

from webhooks.constants import ENDPOINT_HOLD_SECONDS, ENDPOINT_INFLIGHT_CAP

# Weight of the latest attempt in an endpoint's average attempt time.
_SMOOTHING = 0.2


class EndpointPace:
    def __init__(self) -> None:
        self._average: dict[str, float] = {}
        # Per endpoint, the start times of its attempts in flight, oldest first (dicts keep order).
        self._started: defaultdict[str, dict[int, float]] = defaultdict(dict)
        self._next_token = 0

    def started(self, endpoint_id: str) -> int:
        """An attempt to ``endpoint_id`` starts; pass the token returned to ``ended``."""
        self._next_token += 1
        self._started[endpoint_id][self._next_token] = time.monotonic()
        return self._next_token

    def ended(self, endpoint_id: str, token: int) -> None:
        in_flight = self._started[endpoint_id]
        took = time.monotonic() - in_flight.pop(token)
        if not in_flight:
            del self._started[endpoint_id]
        previous = self._average.get(endpoint_id)
        self._average[endpoint_id] = took if previous is None else previous + _SMOOTHING * (took - previous)

    def attempt_seconds(self, endpoint_id: str) -> float:
        """How long an attempt to the endpoint takes, as far as this worker can tell yet."""
        in_flight = self._started.get(endpoint_id)
        oldest_age = time.monotonic() - next(iter(in_flight.values())) if in_flight else 0.0
        return max(self._average.get(endpoint_id, 0.0), oldest_age)

    def worth_holding(self, endpoint_id: str, ahead: int) -> bool:
        """Would a delivery with ``ahead`` attempts before it (in flight and held) start soon?"""
        rounds = (ahead + 1) / ENDPOINT_INFLIGHT_CAP
        return rounds * self.attempt_seconds(endpoint_id) <= ENDPOINT_HOLD_SECONDS
