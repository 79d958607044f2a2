"""One tenant's feed in commit order: entries go out strictly by seq, whatever order they arrive in.

Two writers can append to a tenant's stream in the opposite order of their
commits, and an append can be lost (Redis blinked after the commit). Seqs
are gap-free and handed out in commit order (``relay.core.batch``), so a gap
means "not here yet": an entry that arrives after one is held back; once the
gap has lasted ``FEED_GAP_WAIT`` (or ``FEED_HOLD_LIMIT`` entries wait) the
missing seqs are read from the ledger, where they must be: the counter's row
lock means seq n committed before seq n+1 did.

Pure bookkeeping, no I/O: the fan-out feeds it stream entries, tail checks
and ledger reads, and sends on what it releases.
"""

from __future__ import annotations

from relay.core.constants import FEED_GAP_WAIT, FEED_HOLD_LIMIT, LEDGER_PAGE
from relay.web.ws.entries import FeedEntry


class TenantOrder:
    def __init__(self, next_seq: int) -> None:
        # Everything below next_seq has been released (or was in the ledger before listening began).
        self.next_seq = next_seq
        # The highest seq known to exist: from an entry that arrived, or from the ledger's counter.
        self.known_last = next_seq - 1
        self._held: dict[int, FeedEntry] = {}
        # When the current gap was noticed (loop time); None while nothing is missing.
        self._gap_since: float | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    def offer(self, entry: FeedEntry, now: float) -> list[FeedEntry]:
        """Take an entry; returns the entries that may go out now, in seq order."""
        assert entry.seq is not None
        if entry.seq >= self.next_seq:
            self._held[entry.seq] = entry
            self.known_last = max(self.known_last, entry.seq)
        return self._release(now)

    def expect_through(self, last_seq: int, now: float) -> None:
        """The ledger has committed up to ``last_seq``: anything not here yet is missing."""
        if last_seq > self.known_last:
            self.known_last = last_seq
            self._note_gap(now, progressed=False)

    def deadline(self) -> float | None:
        """When the current gap must be filled from the ledger; None without a gap."""
        if self._gap_since is None:
            return None
        if len(self._held) >= FEED_HOLD_LIMIT:
            return self._gap_since
        return self._gap_since + FEED_GAP_WAIT

    def missing(self) -> tuple[int, int] | None:
        """The first run of missing seqs (bounded to one ledger page), or None."""
        if self.known_last < self.next_seq:
            return None
        last = min(self._held) - 1 if self._held else self.known_last
        return self.next_seq, min(last, self.next_seq + LEDGER_PAGE - 1)

    def fill(self, entries: list[FeedEntry], through: int, now: float) -> list[FeedEntry]:
        """Take what the ledger holds for seqs up to ``through``; returns what may go out now.

        A seq the ledger does not have either (its tenant's events were deleted)
        is skipped, so one missing row cannot stall the feed.
        """
        for entry in entries:
            if entry.seq is not None and entry.seq >= self.next_seq:
                self._held[entry.seq] = entry
        ready = self._release(now)
        if self.next_seq <= through:
            self.next_seq = through + 1
            self._held = {seq: entry for seq, entry in self._held.items() if seq >= self.next_seq}
            ready += self._release(now)
        return ready

    def _release(self, now: float) -> list[FeedEntry]:
        ready = []
        while (entry := self._held.pop(self.next_seq, None)) is not None:
            ready.append(entry)
            self.next_seq += 1
        self._note_gap(now, progressed=bool(ready))
        return ready

    def _note_gap(self, now: float, *, progressed: bool) -> None:
        if self.known_last < self.next_seq:
            self._gap_since = None
        elif self._gap_since is None or progressed:
            # A new gap, or an old one that moved on: give the missing entries their full wait.
            self._gap_since = now
