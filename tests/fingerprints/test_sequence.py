"""The EES finger sequence with the other hand as fallback: pure plan, every path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.biometrics.finger.sequence import EES_SEQUENCE, Plan, Skip, other_hand


def test_all_four_right_fingers_in_order_when_each_is_taken():
    plan, seen = Plan(), []
    while (step := plan.next_finger()) is not None:
        seen.append(step)
        plan = plan.record(step[0], True, quality=60)
    assert seen == [(f, None) for f in EES_SEQUENCE] and plan.done


def test_injured_finger_is_replaced_by_the_left_hand_with_the_reason():
    plan = Plan().record("right_index", False, skipped=Skip.INJURED)
    assert plan.next_finger() == ("left_index", "right_index")     # straight away, while the hand is there
    plan = plan.record("left_index", True, quality=55)
    for f in EES_SEQUENCE[1:]:
        plan = plan.record(f, True)
    assert plan.done and len(plan.taken()) == 4
    assert [(o.finger, o.replaces, o.skipped) for o in plan.outcomes if not o.taken or o.replaces] == [
        ("right_index", None, Skip.INJURED), ("left_index", "right_index", None)]


def test_no_fallback_when_disabled_or_when_the_other_hand_is_asked_for_anyway():
    plan = Plan(fallback=False).record("right_index", False, skipped=Skip.MISSING)
    assert plan.next_finger() == ("right_middle", None)
    both = Plan(sequence=("right_index", "left_index")).record("right_index", False, skipped=Skip.POOR_QUALITY)
    assert both.next_finger() == ("left_index", None)
    assert both.record("left_index", True).done


def test_out_of_turn_and_contradictory_records_are_refused():
    with pytest.raises(ValueError, match="not the finger asked for"):
        Plan().record("right_ring", True)
    with pytest.raises(ValueError, match="either taken or skipped"):
        Plan().record("right_index", True, skipped=Skip.MISSING)
    with pytest.raises(ValueError, match="unknown or repeated"):
        Plan(sequence=("right_index", "right_index"))


@given(st.lists(st.sampled_from([None, *Skip]), min_size=8, max_size=8))
def test_any_run_ends_and_takes_each_finger_at_most_once(results):
    plan, steps = Plan(), 0
    for r in results:
        step = plan.next_finger()
        if step is None:
            break
        plan = plan.record(step[0], r is None, skipped=r)
        steps += 1
    assert plan.done or steps == len(results)
    fingers = [o.finger for o in plan.outcomes]
    assert len(fingers) == len(set(fingers)) <= 2 * len(EES_SEQUENCE)
    for o in plan.outcomes:
        assert o.replaces is None or (o.finger == other_hand(o.replaces) and o.replaces in EES_SEQUENCE)
