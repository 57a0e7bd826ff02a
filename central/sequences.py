"""Per-device sequence gaps: what a batch of sequence numbers does to the highest seen and the open gaps. Pure.

Why pure and per batch: the store reads every affected device's gaps in one statement and writes the changes in
two (delete the gaps replaced, insert the new ones and the pieces of split ones), instead of a read per event
below the highest seen — which, with two ingest processes sharing one device's events, was nearly every event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Gap:
    """Missing sequences `from_seq`..`to_seq` (inclusive); `id` is None for a gap not stored yet."""

    from_seq: int
    to_seq: int
    opened_at: float
    resend_at: float | None = None
    resends: int = 0
    id: int | None = None


@dataclass
class Advance:
    high: int
    delete: list[int] = field(default_factory=list)   # ids of stored gaps that changed
    insert: list[Gap] = field(default_factory=list)   # gaps to store: new ones, and pieces of split ones
    opened: int = 0
    filled: int = 0                                   # gaps closed entirely


def advance(high: int, seqs: Iterable[int], gaps: Iterable[Gap], now: float) -> Advance:
    """A sequence above `high` + 1 opens a gap; one at or below `high` splits or closes the gap holding it (a split
    keeps the gap's age and resend count); a sequence seen before changes nothing."""
    out = Advance(high)
    open_gaps = list(gaps)
    for seq in sorted(set(seqs)):
        if seq > out.high:
            if seq > out.high + 1:
                open_gaps.append(Gap(out.high + 1, seq - 1, now))
                out.opened += 1
            out.high = seq
            continue
        gap = next((g for g in open_gaps if g.from_seq <= seq <= g.to_seq), None)
        if gap is None:
            continue
        open_gaps.remove(gap)
        if gap.id is not None:
            out.delete.append(gap.id)
        if gap.from_seq == gap.to_seq:
            out.filled += 1
        if gap.from_seq <= seq - 1:
            open_gaps.append(replace(gap, to_seq=seq - 1, id=None))
        if seq + 1 <= gap.to_seq:
            open_gaps.append(replace(gap, from_seq=seq + 1, id=None))
    out.insert = [g for g in open_gaps if g.id is None]
    return out
