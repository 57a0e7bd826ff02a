"""The transaction state machine: every path to the result screen, timeouts, retries, cancel."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.events.model import Decision, DocumentSummary, FaceResult, FingerResult
from edge.lane.session import Ending, Rules, Session, SessionError, Step, Timing

GOOD_DOC = DocumentSummary(format="TD3", valid=True, expired=False, nationality="UTO")
EXPIRED = DocumentSummary(format="TD3", valid=True, expired=True)
INVALID = DocumentSummary(format="TD3", valid=False, expired=False, errors=["check.document_number"])
MATCH = FaceResult(quality=80, acceptable=True, match=True, match_score=0.7, threshold=0.38)
NO_MATCH = FaceResult(quality=80, acceptable=True, match=False, match_score=0.1, threshold=0.38)


def at_face(rules: Rules | None = None) -> Session:
    s = Session("ACDE-FGHJ", rules or Rules(), now=0.0)
    s.choose_language("ar", 1.0)
    s.document_read(GOOD_DOC, 2.0)
    assert s.step is Step.FACE
    return s


def test_happy_path_without_fingerprints_completes():
    s = at_face()
    s.face_captured(MATCH, 3.0)
    assert s.step is Step.RESULT and s.ending is Ending.COMPLETE
    assert s.language == "ar" and s.alerts() == []


def test_fingerprints_taken_in_policy_order():
    s = at_face(Rules(fingerprints=("right_index", "left_index")))
    s.face_captured(MATCH, 3.0)
    assert s.step is Step.FINGERS and s.next_finger() == "right_index"
    with pytest.raises(SessionError):
        s.finger_captured(FingerResult(finger="left_index", quality=60, acceptable=True), 4.0)
    s.finger_captured(FingerResult(finger="right_index", quality=60, acceptable=True), 4.0)
    assert s.next_finger() == "left_index" and s.step is Step.FINGERS
    s.finger_captured(FingerResult(finger="left_index", quality=60, acceptable=True), 5.0)
    assert s.ending is Ending.COMPLETE and [f.finger for f in s.fingerprints] == ["right_index", "left_index"]


@pytest.mark.parametrize(("doc", "reason"), [(EXPIRED, "document.expired"), (INVALID, "document.invalid")])
def test_bad_document_goes_to_an_officer_with_the_reason(doc, reason):
    s = Session("X", Rules(), now=0.0)
    s.choose_language("en", 0.5)
    s.document_read(doc, 1.0)
    assert s.ending is Ending.HANDOVER and reason in s.reasons and reason in s.alerts()
    crossing = s.crossing(post="p", device="d", decision=Decision(outcome="refer", by="officer1"))
    assert crossing.transaction == "X" and reason in crossing.alerts


def test_unreadable_document_uses_the_retry_budget_then_hands_over():
    s = Session("X", Rules(retries=2), now=0.0)
    s.choose_language("fr", 0.0)
    assert s.document_unreadable(1.0) and s.tries_left() == 1
    assert s.feedback == ("document.try_again",)
    assert s.document_unreadable(2.0) and s.tries_left() == 0
    assert not s.document_unreadable(3.0)
    assert s.ending is Ending.HANDOVER and s.reasons == ["document.unreadable"]


def test_face_mismatch_retries_then_hands_over_and_keeps_the_score():
    s = at_face(Rules(retries=1))
    s.face_captured(NO_MATCH, 3.0)
    assert s.step is Step.FACE
    s.face_captured(NO_MATCH, 4.0)
    assert s.ending is Ending.HANDOVER and "face.no_match" in s.alerts()
    assert s.face is not None and s.face.match_score == pytest.approx(0.1)


def test_no_portrait_hands_over_only_when_the_post_requires_a_match():
    unmatched = FaceResult(quality=80, acceptable=True, match=None)
    s = at_face(Rules(face_match_required=True))
    s.face_captured(unmatched, 3.0)
    assert s.ending is Ending.HANDOVER and s.reasons == ["face.not_compared"]
    s = at_face(Rules(face_match_required=False))
    s.face_captured(unmatched, 3.0)
    assert s.ending is Ending.COMPLETE


def test_timeout_warns_first_then_abandons():
    s = Session("X", Rules(timing=Timing(document=30, warn_before=10)), now=0.0)
    s.choose_language("en", 0.0)
    assert s.tick(5.0) == s.tick(5.0) and not s.tick(5.0).warn
    assert s.tick(21.0).warn and not s.tick(21.0).expired
    s.extend(21.0)
    assert not s.tick(22.0).warn
    t = s.tick(51.5)
    assert t.expired and s.ending is Ending.ABANDONED and s.reasons == ["timeout.document"]


def test_cancel_and_help_from_every_step():
    for step in ("language", "document", "face"):
        for action, ending in (("cancel", Ending.ABANDONED), ("ask_for_help", Ending.HANDOVER)):
            s = at_face() if step == "face" else Session("X", Rules(), now=0.0)
            if step == "document":
                s.choose_language("en", 0.0)
            getattr(s, action)(9.0)
            assert s.finished and s.ending is ending


def test_actions_out_of_order_are_refused():
    s = Session("X", Rules(), now=0.0)
    with pytest.raises(SessionError):
        s.document_read(GOOD_DOC, 1.0)
    with pytest.raises(SessionError):
        s.face_captured(MATCH, 1.0)
    with pytest.raises(SessionError):
        s.choose_language("de", 1.0)


def test_abandoned_crossing_is_recorded_with_reasons():
    s = at_face()
    s.cancel(5.0)
    c = s.abandoned_crossing(post="p", device="d")
    assert c.decision.outcome == "abandoned" and c.decision.reason_codes == ["traveller.cancelled"]
    assert c.document == GOOD_DOC


ACTIONS = st.sampled_from(["lang", "doc_good", "doc_expired", "doc_unreadable", "face_match", "face_nomatch",
                           "face_failed", "finger_good", "finger_bad", "cancel", "help", "tick", "extend",
                           "device"])


def _apply(s: Session, name: str, now: float) -> None:
    actions = {
        "lang": lambda: s.choose_language("ar", now),
        "doc_good": lambda: s.document_read(GOOD_DOC, now),
        "doc_expired": lambda: s.document_read(EXPIRED, now),
        "doc_unreadable": lambda: s.document_unreadable(now),
        "face_match": lambda: s.face_captured(MATCH, now),
        "face_nomatch": lambda: s.face_captured(NO_MATCH, now),
        "face_failed": lambda: s.face_failed(("face.none",), now),
        "finger_good": lambda: s.finger_captured(
            FingerResult(finger=s.next_finger() or "x", quality=70, acceptable=True), now),
        "finger_bad": lambda: s.finger_captured(
            FingerResult(finger=s.next_finger() or "x", quality=5, acceptable=False,
                         feedback=["finger.press_flat"]), now),
        "cancel": lambda: s.cancel(now),
        "help": lambda: s.ask_for_help(now),
        "tick": lambda: s.tick(now),
        "extend": lambda: s.extend(now),
        "device": lambda: s.device_unavailable("face", now),
    }
    actions[name]()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(ACTIONS, st.floats(0, 200)), max_size=25), st.integers(0, 3), st.booleans())
def test_any_sequence_of_actions_keeps_the_invariants(actions, retries, fingers):
    rules = Rules(retries=retries, fingerprints=("right_index",) if fingers else ())
    s = Session("X", rules, now=0.0)
    now = 0.0
    for name, dt in actions:
        now += dt
        before = s.version
        try:
            _apply(s, name, now)
        except SessionError:
            assert s.version == before  # a refused action changes nothing
        # invariants
        assert (s.step is Step.RESULT) == (s.ending is not None)
        assert all(n <= rules.retries + 1 for n in s.tries.values())
        if s.ending is Ending.COMPLETE:
            assert s.document is not None and s.document.valid and not s.document.expired
            assert s.face is not None and s.face.match
            assert s.next_finger() is None
        if s.ending is Ending.HANDOVER:
            assert s.reasons
        assert s.deadline >= s.entered_at


def test_timeout_before_any_document_is_not_worth_recording():
    s = Session("X", Rules(timing=Timing(document=5)), now=0.0)
    s.choose_language("en", 0.0)
    s.tick(6.0)
    assert s.ending is Ending.ABANDONED and not s.started
    s = at_face()
    s.tick(1000.0)
    assert s.ending is Ending.ABANDONED and s.started
