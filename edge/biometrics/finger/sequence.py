"""Which finger next: a configured finger sequence with the other hand as fallback (the EU EES way).

The EES asks for four fingers of the right hand on a single-finger sensor; a finger that is missing,
injured or bandaged (said by the traveller or the officer), or that gives no usable print after its
retries, is replaced by the same finger of the left hand, and the reason is recorded. The plan is pure:
the lane reports each finger's outcome and asks for the next one, so every path is testable without a
sensor or a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

FINGERS = (
    "right_thumb", "right_index", "right_middle", "right_ring", "right_little",
    "left_thumb", "left_index", "left_middle", "left_ring", "left_little",
)
EES_SEQUENCE = ("right_index", "right_middle", "right_ring", "right_little")


class Skip(StrEnum):
    """Why a finger was not taken (recorded in the event; the officer sees it)."""

    MISSING = "missing"          # amputated or absent
    INJURED = "injured"          # wounded, bandaged, in a cast
    POOR_QUALITY = "poor_quality"  # no acceptable print within the retries


def fingers_covered(results: Iterable[Any], finger: str) -> bool:
    """Whether `finger` of the sequence was taken, itself or through its stand-in (results with finger,
    acceptable and replaces, e.g. the event's FingerResult)."""
    return any(r.acceptable and (r.finger == finger or getattr(r, "replaces", None) == finger) for r in results)


def other_hand(finger: str) -> str:
    side, name = finger.split("_", 1)
    return f"{'left' if side == 'right' else 'right'}_{name}"


@dataclass(frozen=True)
class FingerOutcome:
    finger: str
    taken: bool
    replaces: str | None = None        # the finger of the sequence this one stands in for
    skipped: Skip | None = None
    quality: float | None = None       # NFIQ 2 of the kept print


@dataclass(frozen=True)
class Plan:
    """The sequence asked for and what happened so far; `next_finger()` says what to capture now."""

    sequence: tuple[str, ...] = EES_SEQUENCE
    fallback: bool = True
    outcomes: tuple[FingerOutcome, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        unknown = [f for f in self.sequence if f not in FINGERS]
        if unknown or len(set(self.sequence)) != len(self.sequence):
            raise ValueError(f"finger sequence: unknown or repeated fingers {unknown or list(self.sequence)}")

    def _tried(self) -> set[str]:
        return {o.finger for o in self.outcomes}

    def _pending(self) -> list[tuple[str, str | None]]:
        """(finger to capture, the sequence finger it replaces) still to do, in order."""
        tried, todo = self._tried(), []
        for finger in self.sequence:
            if finger not in tried:
                todo.append((finger, None))
                continue
            failed = next(o for o in self.outcomes if o.finger == finger and o.replaces is None)
            spare = other_hand(finger)
            if (not failed.taken and self.fallback and spare not in tried and spare not in self.sequence):
                todo.append((spare, finger))
        return todo

    def next_finger(self) -> tuple[str, str | None] | None:
        """The next (finger, replaces) to capture, or None when the sequence is done."""
        pending = self._pending()
        return pending[0] if pending else None

    def record(self, finger: str, taken: bool, *, skipped: Skip | None = None,
               quality: float | None = None) -> Plan:
        """The plan after `finger` was captured (taken) or skipped with a reason."""
        step = self.next_finger()
        if step is None or step[0] != finger:
            raise ValueError(f"{finger} is not the finger asked for now ({step[0] if step else 'none'})")
        if taken == (skipped is not None):
            raise ValueError("a finger is either taken or skipped with a reason")
        outcome = FingerOutcome(finger=finger, taken=taken, replaces=step[1], skipped=skipped, quality=quality)
        return replace(self, outcomes=(*self.outcomes, outcome))

    @property
    def done(self) -> bool:
        return self.next_finger() is None

    def taken(self) -> list[FingerOutcome]:
        return [o for o in self.outcomes if o.taken]
