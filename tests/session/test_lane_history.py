"""The traveller history in the crossing: entries keep sealed templates, an exit is checked against them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import History
from edge.events.model import Crossing, Decision, DocumentSummary
from edge.lane.history import TEMPLATES_DB, LaneHistory
from edge.store.atrest import AtRestKey
from tests.fingerprints.conftest import REAL

DOC = DocumentSummary(format="TD3", valid=True, expired=False, issuing_state="UTO", document_number="L898902C3",
                      nationality="UTO")
DAY = 86400.0


def crossing(direction: str, outcome: str = "admit") -> Crossing:
    return Crossing(post="p", device="d", role="booth", transaction="ACDE-FGHJ", direction=direction, document=DOC,
                    decision=Decision(outcome=outcome, by="officer1"))


@pytest.fixture
def history(tmp_path: Path):
    h = LaneHistory(tmp_path / "store.db", History(), AtRestKey.load_or_create(tmp_path / "atrest.key"))
    yield h
    h.close()


def prints(*paths: Path, fingers=("right_index",)) -> dict[str, bytes]:
    return {f"finger_{f}.png": p.read_bytes() for f, p in zip(fingers, paths, strict=True)}


def test_exit_with_the_same_finger_matches_the_entry(history, tmp_path: Path):
    history.record(crossing("entry"), "ev-1", prints(REAL[0]), at=1000.0)
    assert REAL[0].name.encode() not in (tmp_path / TEMPLATES_DB).read_bytes()
    view = history.view(DOC, prints(REAL[1]), now=1000.0 + 3 * DAY)
    assert view["crossings"] == 1 and view["in_country"] and not view["overstay"]
    assert view["exit_finger_match"]["match"] is True


def test_another_finger_at_exit_does_not_match(history):
    history.record(crossing("entry"), "ev-1", prints(REAL[0]), at=1000.0)
    assert history.view(DOC, prints(REAL[2]), now=2000.0)["exit_finger_match"]["match"] is False


def test_an_exit_pairs_the_stay_flags_an_overstay_and_forgets_the_templates(history):
    history.record(crossing("entry"), "ev-1", prints(REAL[0]), at=1000.0)
    rec = history.record(crossing("exit"), "ev-2", prints(REAL[1]), at=1000.0 + 100 * DAY)
    assert rec["overstay_days"] == 11          # the day of entry counts as day one
    view = history.view(DOC, prints(REAL[1]), now=1000.0 + 101 * DAY)
    assert not view["in_country"] and view["overstay"] and "exit_finger_match" not in view
    assert history.conn.execute("SELECT count(*) FROM templates").fetchone()[0] == 0


def test_a_refused_traveller_leaves_no_history(history):
    assert history.record(crossing("entry", outcome="refuse"), "ev-1", prints(REAL[0])) is None
    assert history.view(DOC, None)["crossings"] == 0
