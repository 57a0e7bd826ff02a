"""Sequence gaps per batch (central.sequences): the open gaps always cover exactly the sequences not yet seen."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from central.sequences import Gap, advance

batches = st.lists(st.lists(st.integers(min_value=1, max_value=60), max_size=12), max_size=8)


def covered(gaps) -> list[int]:
    return sorted(s for g in gaps for s in range(g.from_seq, g.to_seq + 1))


@settings(max_examples=300)
@given(batches)
def test_gaps_are_exactly_the_missing_sequences(batches):
    high, stored, next_id = 0, {}, 1          # what the gaps table holds: id -> Gap
    seen: set[int] = set()
    for seqs in batches:
        step = advance(high, seqs, list(stored.values()), now=1.0)
        for gid in step.delete:
            del stored[gid]
        for g in step.insert:
            stored[next_id] = Gap(g.from_seq, g.to_seq, g.opened_at, g.resend_at, g.resends, next_id)
            next_id += 1
        high = step.high
        seen |= set(seqs)
        assert high == max(seen, default=0)
        assert covered(stored.values()) == sorted(set(range(1, high + 1)) - seen)   # no overlaps, nothing else


def test_a_split_keeps_age_and_resends_and_a_last_fill_counts():
    old = Gap(3, 5, opened_at=10.0, resend_at=40.0, resends=2, id=7)
    step = advance(6, [4], [old], now=99.0)
    assert step.delete == [7] and step.filled == 0 and step.opened == 0
    assert sorted((g.from_seq, g.to_seq, g.opened_at, g.resends) for g in step.insert) == [(3, 3, 10.0, 2),
                                                                                           (5, 5, 10.0, 2)]
    closed = advance(6, [3], [Gap(3, 3, 10.0, id=8)], now=99.0)
    assert (closed.delete, closed.insert, closed.filled) == ([8], [], 1)


def test_a_jump_opens_one_gap_and_a_repeat_changes_nothing():
    step = advance(2, [6, 6, 2, 1], [], now=5.0)
    assert step.high == 6 and step.opened == 1 and [(g.from_seq, g.to_seq, g.opened_at) for g in step.insert] == [
        (3, 5, 5.0)]
    assert advance(6, [2], [], now=5.0).insert == []
