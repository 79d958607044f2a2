"""One tenant's commit order, as bookkeeping: what goes out, what waits, what is read from the ledger."""

from __future__ import annotations

from relay.core.constants import FEED_GAP_WAIT, FEED_HOLD_LIMIT
from relay.web.ws.entries import FeedEntry
from relay.web.ws.ordering import TenantOrder


def entry(seq: int) -> FeedEntry:
    return FeedEntry(id=f"evt_{seq}", seq=seq, session_id=None, frame=f"frame {seq}")


def seqs(entries: list[FeedEntry]) -> list[int]:
    return [item.seq for item in entries if item.seq is not None]


def test_entries_in_order_go_straight_out() -> None:
    order = TenantOrder(next_seq=5)
    assert seqs(order.offer(entry(5), now=0)) == [5]
    assert seqs(order.offer(entry(6), now=0)) == [6]
    assert order.deadline() is None and order.missing() is None


def test_an_entry_after_a_gap_waits_for_the_missing_one() -> None:
    order = TenantOrder(next_seq=1)
    assert order.offer(entry(3), now=10) == []
    assert order.offer(entry(2), now=10.1) == []
    assert order.missing() == (1, 1)
    assert order.deadline() == 10 + FEED_GAP_WAIT
    assert seqs(order.offer(entry(1), now=10.2)) == [1, 2, 3]
    assert order.deadline() is None


def test_what_was_already_handed_out_is_dropped() -> None:
    order = TenantOrder(next_seq=1)
    order.offer(entry(1), now=0)
    assert order.offer(entry(1), now=0) == []
    assert TenantOrder(next_seq=10).offer(entry(9), now=0) == []


def test_a_gap_is_filled_from_the_ledger_and_held_entries_follow() -> None:
    order = TenantOrder(next_seq=1)
    order.offer(entry(4), now=0)
    first, last = order.missing() or (0, 0)
    assert (first, last) == (1, 3)
    released = order.fill([entry(1), entry(2), entry(3)], through=last, now=1)
    assert seqs(released) == [1, 2, 3, 4]
    # A late append of a filled seq is a duplicate now.
    assert order.offer(entry(2), now=1) == []


def test_a_seq_the_ledger_no_longer_has_is_skipped_rather_than_waited_for() -> None:
    order = TenantOrder(next_seq=1)
    order.offer(entry(3), now=0)
    assert seqs(order.fill([entry(1)], through=2, now=1)) == [1, 3]
    assert order.next_seq == 4


def test_a_tail_check_reveals_a_lost_last_append() -> None:
    order = TenantOrder(next_seq=1)
    order.offer(entry(1), now=0)
    order.expect_through(2, now=5)
    assert order.missing() == (2, 2)
    assert order.deadline() == 5 + FEED_GAP_WAIT
    # The append was only late: the gap closes without the ledger.
    assert seqs(order.offer(entry(2), now=5.1)) == [2]
    assert order.deadline() is None


def test_progress_restarts_the_wait_for_the_next_gap() -> None:
    order = TenantOrder(next_seq=1)
    order.offer(entry(2), now=0)
    order.offer(entry(4), now=0)
    assert seqs(order.offer(entry(1), now=3)) == [1, 2]
    assert order.missing() == (3, 3)
    assert order.deadline() == 3 + FEED_GAP_WAIT


def test_too_many_held_entries_make_the_gap_due_at_once() -> None:
    order = TenantOrder(next_seq=1)
    for seq in range(2, FEED_HOLD_LIMIT + 2):
        order.offer(entry(seq), now=7)
    assert order.held == FEED_HOLD_LIMIT
    assert order.deadline() == 7
