"""Checks: the built-ins' verdicts, a broken check, the post's list, and how the session runs them."""

from __future__ import annotations

import pytest

from edge.config import parse
from edge.events.model import Crossing, Decision, DocumentSummary, FaceResult, FingerResult
from edge.lane.checks import (
    SEE_OFFICER,
    CheckError,
    Context,
    Stage,
    Verdict,
    build_checks,
    default_checks,
    register_check,
    run_check,
    verdict,
)
from edge.lane.session import Ending, Rules, Session, Step

GOOD = DocumentSummary(format="TD3", valid=True, expired=False, expiry_date="2031-01-01")
MATCH = FaceResult(quality=80, acceptable=True, match=True, match_score=0.7, threshold=0.38)


def verdicts(ctx: Context) -> dict[str, Verdict]:
    return {c.id: run_check(c, ctx) for c in default_checks()}


def test_builtins_on_a_good_traveller_pass_and_say_nothing_to_the_kiosk():
    v = verdicts(Context(document=GOOD, face=MATCH, fingers_required=("right_index",),
                         fingerprints=(FingerResult(finger="right_index", quality=70, acceptable=True),)))
    assert {k: x.outcome for k, x in v.items()} == {"document.validity": "pass", "document.expiry": "pass",
                                                    "face.match": "pass", "finger.capture": "pass"}
    assert all(x.message is None and x.reason_codes == [] for x in v.values())
    assert v["face.match"].detail["score"] == 0.7 and v["finger.capture"].detail["quality.right_index"] == 70


def test_builtins_fail_with_reason_codes_and_officer_detail():
    bad = DocumentSummary(format="TD3", valid=False, expired=True, checks={"composite": False, "number": True})
    v = verdicts(Context(document=bad, face=FaceResult(match=False, match_score=0.1, threshold=0.38),
                         fingers_required=("right_index", "left_index")))
    assert v["document.validity"].reason_codes == ["document.invalid"]
    assert v["document.validity"].detail["failed"] == "composite"
    assert v["document.expiry"].reason_codes == ["document.expired"]
    # the traveller may be told these (never an alert hit): the kiosk says why in their language
    assert v["face.match"].outcome == "fail" and v["face.match"].message == "result.face_not_matched"
    assert v["finger.capture"].detail["missing"] == "right_index, left_index"
    assert v["finger.capture"].message == "result.finger_not_captured"
    assert v["document.validity"].message == SEE_OFFICER


def test_nothing_to_judge_is_not_run_and_an_uncompared_face_warns_only_when_allowed():
    v = verdicts(Context())
    assert {x.outcome for x in v.values()} == {"not_run"}
    unmatched = FaceResult(acceptable=True, match=None, feedback=["page.other_document"])
    strict = run_check(default_checks()[2], Context(face=unmatched))
    lenient = run_check(default_checks()[2], Context(face=unmatched, face_match_required=False))
    assert strict.outcome == "fail" and strict.reason_codes == ["face.not_compared", "page.other_document"]
    assert lenient.outcome == "warn" and lenient.message is None


class Boom:
    id = "test.boom"
    stage = Stage.DOCUMENT

    def run(self, ctx: Context) -> Verdict:
        raise RuntimeError("list file unreadable")


class Listed:
    """Like an alert list: a hit hands over, and the kiosk's message is the neutral one."""

    id = "test.listed"
    stage = Stage.DOCUMENT

    def __init__(self, numbers: set[str]) -> None:
        self.numbers = numbers

    def run(self, ctx: Context) -> Verdict:
        if ctx.document is None:
            return verdict(self, "not_run")
        if ctx.document.document_number in self.numbers:
            return verdict(self, "fail", ["alerts.hit"], SEE_OFFICER, list="test")
        return verdict(self, "pass")


def test_a_check_that_raises_fails_closed_without_a_traceback():
    v = run_check(Boom(), Context(document=GOOD))
    assert v.outcome == "fail" and v.reason_codes == ["check.error"] and v.detail == {"error": "RuntimeError"}


def test_the_post_chooses_its_checks_and_an_unknown_one_is_a_clear_error(monkeypatch):
    from edge.lane import checks

    monkeypatch.setattr(checks, "_FACTORIES", dict(checks._FACTORIES))   # the registration ends with this test
    register_check("test.listed", lambda _cfg: Listed({"X1"}))
    assert [c.id for c in build_checks(None, ["document.expiry", "test.listed"])] == ["document.expiry",
                                                                                       "test.listed"]
    with pytest.raises(CheckError, match="unknown check 'nope'"):
        build_checks(None, ["nope"])
    cfg = parse('[identity]\npost = "p"\ndevice = "d"\n', "<checks test>")
    ids = [c.id for c in build_checks(cfg)]
    assert ids[:4] == ["document.validity", "document.expiry", "face.match", "finger.capture"]
    assert "alerts.lists" not in ids          # no alert-list key on this post: that check is not configured


def session(checks, **rules) -> Session:
    s = Session("ACDE-FGHJ", Rules(checks=checks, **rules), now=0.0)
    s.choose_language("en", 0.0)
    return s


def test_a_failing_document_stage_check_hands_over_at_once_and_the_kiosk_learns_nothing_more():
    s = session((*default_checks(), Listed({"X1"})))
    s.document_read(GOOD.model_copy(update={"document_number": "X1"}), 1.0)
    assert s.ending is Ending.HANDOVER and s.reasons == ["alerts.hit"] and s.message() == SEE_OFFICER
    crossing = s.crossing(post="p", device="d", decision=Decision(outcome="refer", by="officer1"))
    assert [(v.check, v.outcome) for v in crossing.checks] == [        # in the order they ran
        ("document.validity", "pass"), ("document.expiry", "pass"), ("test.listed", "fail"),
        ("face.match", "not_run"), ("finger.capture", "not_run")]
    again = Crossing.model_validate_json(crossing.model_dump_json())
    assert again.checks == crossing.checks


def test_every_check_runs_once_and_the_record_keeps_the_order_of_the_post():
    s = session((*default_checks(), Listed(set())))
    s.document_read(GOOD, 1.0)
    s.face_captured(MATCH, 2.0)
    assert s.ending is Ending.COMPLETE
    assert [v.check for v in s.verdicts.values()] == ["document.validity", "document.expiry", "test.listed",
                                                      "face.match", "finger.capture"]
    assert [v.outcome for v in s.verdicts.values()] == ["pass", "pass", "pass", "pass", "not_run"]


def test_the_chip_step_comes_after_the_document_when_the_post_reads_chips():
    class ChipAuth:
        id = "test.chip"
        stage = Stage.CHIP

        def run(self, ctx: Context) -> Verdict:
            return verdict(self, "pass" if ctx.chip == {"passive": True} else "fail", [] if ctx.chip else ["chip.bad"])

    s = session((*default_checks(), ChipAuth()), chip=True)
    s.document_read(GOOD, 1.0)
    assert s.step is Step.CHIP
    assert s.chip_unreadable(2.0) and s.step is Step.CHIP
    s.chip_read({"passive": True}, 3.0)
    assert s.step is Step.FACE and s.verdicts["test.chip"].outcome == "pass"
    s = session((*default_checks(), ChipAuth()), chip=True)
    s.document_read(GOOD, 1.0)
    s.chip_read({}, 2.0)
    assert s.ending is Ending.HANDOVER and s.reasons == ["chip.bad"]


def test_a_post_without_a_face_step_goes_from_the_document_to_the_fingers():
    s = session(default_checks(), face=False, fingerprints=("right_index",))
    s.document_read(GOOD, 1.0)
    assert s.step is Step.FINGERS


def test_a_step_never_reached_is_not_run_not_failed():
    s = session(default_checks(), fingerprints=("right_index",))
    s.document_read(GOOD.model_copy(update={"expired": True}), 1.0)
    assert s.ending is Ending.HANDOVER
    assert s.verdicts["finger.capture"].outcome == "not_run" and s.verdicts["face.match"].outcome == "not_run"
    s = session(default_checks(), fingerprints=("right_index",), retries=0, finger_fallback=False)
    s.document_read(GOOD, 1.0)
    s.face_captured(MATCH, 2.0)
    s.finger_captured(FingerResult(finger="right_index", quality=5, acceptable=False), 3.0)
    assert s.ending is Ending.HANDOVER and s.verdicts["finger.capture"].outcome == "fail"
