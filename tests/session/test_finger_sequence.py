"""The EES finger sequence in the session: four right fingers, the left hand standing in, reasons recorded."""

from __future__ import annotations

from edge.biometrics.finger.sequence import EES_SEQUENCE
from edge.events.model import Decision, DocumentSummary, FaceResult, FingerResult
from edge.lane.checks import default_checks
from edge.lane.session import Ending, Rules, Session, Step

GOOD_DOC = DocumentSummary(format="TD3", valid=True, expired=False, nationality="UTO")
MATCH = FaceResult(quality=80, acceptable=True, match=True, match_score=0.7, threshold=0.38)


def at_fingers(**rules) -> Session:
    s = Session("ACDE-FGHJ", Rules(fingerprints=EES_SEQUENCE, checks=default_checks(), retries=1, **rules), now=0.0)
    s.choose_language("ar", 1.0)
    s.document_read(GOOD_DOC, 2.0)
    s.face_captured(MATCH, 3.0)
    assert s.step is Step.FINGERS
    return s


def good(finger: str) -> FingerResult:
    return FingerResult(finger=finger, quality=60, acceptable=True, algorithm="nfiq2/0.1.21")


def bad(finger: str) -> FingerResult:
    return FingerResult(finger=finger, quality=12, acceptable=False, feedback=["finger.press_firmer"])


def test_four_right_fingers_complete_the_crossing():
    s = at_fingers()
    for f in EES_SEQUENCE:
        assert s.next_finger() == f and s.finger_replaces() is None
        s.finger_captured(good(f), 4.0)
    assert s.ending is Ending.COMPLETE and s.verdicts["finger.capture"].outcome == "pass"


def test_an_injured_finger_is_replaced_and_the_record_says_so():
    s = at_fingers()
    s.finger_unavailable("injured", 4.0)
    assert s.next_finger() == "left_index" and s.finger_replaces() == "right_index"
    s.finger_captured(good("left_index"), 5.0)
    for f in EES_SEQUENCE[1:]:
        s.finger_captured(good(f), 6.0)
    assert s.ending is Ending.COMPLETE
    crossing = s.crossing(post="p", device="d", decision=Decision(outcome="recorded", by="kiosk"))
    by = {f.finger: f for f in crossing.fingerprints}
    assert by["right_index"].skipped == "injured" and by["right_index"].acceptable is None
    assert by["left_index"].replaces == "right_index" and by["left_index"].acceptable
    assert s.verdicts["finger.capture"].detail["replaces.left_index"] == "right_index"


def test_a_poor_finger_gets_its_retries_then_the_other_hand():
    s = at_fingers()
    s.finger_captured(bad("right_index"), 4.0)
    assert s.next_finger() == "right_index" and s.feedback == ("finger.press_firmer",)   # one retry
    s.finger_captured(bad("right_index"), 5.0)
    assert s.next_finger() == "left_index"
    s.finger_captured(good("left_index"), 6.0)
    assert s.fingerprints[0].skipped == "poor_quality"


def test_a_finger_neither_hand_gives_hands_over_with_the_reason():
    s = at_fingers()
    s.finger_unavailable("missing", 4.0)
    s.finger_unavailable("missing", 5.0)            # the left index too
    for f in EES_SEQUENCE[1:]:
        s.finger_captured(good(f), 6.0)
    assert s.ending is Ending.HANDOVER and "finger.unavailable" in s.reasons
    assert s.verdicts["finger.capture"].outcome == "fail"


def test_without_fallback_a_missing_finger_is_not_replaced():
    s = at_fingers(finger_fallback=False)
    s.finger_unavailable("missing", 4.0)
    assert s.next_finger() == "right_middle"
