"""One log line when a dependency goes away and one when it is back, however much fails between.

A process that keeps working through a Redis outage (the ledger is the truth)
fails one operation per batch while it lasts: logging each would bury the one
line an operator needs under thousands, and at high rates cost real CPU.
"""

from __future__ import annotations

import logging
import time


class OutageLog:
    """Say that ``what`` failed once per outage, and how much was skipped once it is over."""

    def __init__(self, logger: logging.Logger, what: str, consequence: str) -> None:
        self._logger = logger
        self._what = what
        self._consequence = consequence
        self._since: float | None = None
        self._skipped = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException, skipped: int) -> None:
        if self._since is None:
            self._since = time.monotonic()
            self._logger.warning("%s failed (%r): %s", self._what, error, self._consequence)
        self._skipped += skipped

    def succeeded(self) -> None:
        if self._since is None:
            return
        self._logger.info(
            "%s works again after %.1fs; %d item(s) were skipped meanwhile",
            self._what,
            time.monotonic() - self._since,
            self._skipped,
        )
        self._since, self._skipped = None, 0
