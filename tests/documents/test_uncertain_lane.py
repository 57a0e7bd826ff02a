"""The lane's "officer confirms" verdict for a document reading with uncertain fields (issue 13 item 4):
`document.validity` says `confirm`, the session hands over with `document.uncertain` alone and the kiosk's
neutral message; a document that also fails a check is still `document.invalid`."""

from __future__ import annotations

import datetime as dt

from edge.documents import parse_mrz
from edge.events.model import Decision
from edge.lane.checks import SEE_OFFICER, Context, DocumentValidity
from edge.lane.document import summary_of
from edge.lane.queue import Queued
from edge.lane.session import Ending, Rules, Session
from edge.lane.uncertain import booth_fields, open_fields

SPECIMEN = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TODAY = dt.date(2011, 1, 1)


def _doc(text: str):
    return summary_of(parse_mrz(text, TODAY), "test")


def test_a_lookalike_repair_is_confirm_not_invalid():
    doc = _doc(SPECIMEN.replace("L898902C3", "L8989O2C3"))          # 0 read as O: one repair, officer confirms
    assert doc.uncertain_fields == {"document_number": ["L8989O2C3"]} and doc.document_number == "L898902C3"
    v = DocumentValidity().run(Context(document=doc))
    assert v.outcome == "confirm" and v.reason_codes == ["document.uncertain"] and v.message == SEE_OFFICER
    assert v.detail["uncertain"] == "document_number"


def test_uncertain_and_failing_is_still_invalid():
    doc = _doc(SPECIMEN.replace("L898902C3", "L8989O2C3").replace("7408122", "7408123"))
    assert doc.uncertain_fields and not doc.checks["birth_date"]
    assert DocumentValidity().run(Context(document=doc)).outcome == "fail"


def test_session_hands_over_with_the_uncertain_reason_only():
    s = Session("ACDE-FGHJ", Rules(), now=0.0)
    s.choose_language("en", 0.5)
    s.document_read(_doc(SPECIMEN.replace("L898902C3", "L8989O2C3")).model_copy(update={"expired": False}), 1.0)
    assert s.ending is Ending.HANDOVER and s.reasons == ["document.uncertain"]
    assert s.alerts() == ["document.uncertain"] and s.message() == SEE_OFFICER
    crossing = s.crossing(post="p", device="d", decision=Decision(outcome="refer", by="officer1"))
    assert crossing.document.uncertain_fields == {"document_number": ["L8989O2C3"]}


def test_booth_fields_show_the_name_readably_and_track_what_is_settled():
    doc = {"surname": "HARTIN", "given_names": "ANNA MARIA", "uncertain_fields": {"name": ["MARTIN<<ANNA<MARIA"]}}
    q = Queued("ACDE-FGHJ", 0.0, "handover", {"document": doc})
    [f] = booth_fields(q)
    assert f["read"] == "HARTIN<<ANNA<MARIA" and f["read_text"] == "HARTIN, ANNA MARIA"
    assert f["alternatives"] == [("MARTIN<<ANNA<MARIA", "MARTIN, ANNA MARIA")] and f["settled"] is None
    assert open_fields(q) == ["name"]
    q.data["document"] = {**doc, "confirmed_fields": {"name": "typed"}}
    assert open_fields(q) == [] and booth_fields(q)[0]["settled"] == "typed"
