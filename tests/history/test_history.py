"""Traveller history: earlier crossings by keyed hash, exits paired with entries, overstays per nationality group."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import config
from edge.history.index import DAY, HistoryError, StayRules, TravellerHistory, overstay


def history(tmp_path: Path, rules: StayRules | None = None) -> TravellerHistory:
    h = TravellerHistory.beside(tmp_path / "var" / "borderpost.db")
    if rules is not None:
        h.rules = rules
    return h


def test_exit_pairs_with_entry_and_flags_an_overstay(tmp_path: Path) -> None:
    h = history(tmp_path)
    h.record(direction="entry", issuing_state="D", document_number="C01X00T47", nationality="DEU", at=0,
             event_id="e1")
    r = h.record(direction="exit", issuing_state="DEU", document_number="CO1XOOT47", at=95 * DAY, event_id="e2")
    assert (r.paired_entry_at, r.permitted_days, r.overstay_days) == (0, 90, 6)
    got = h.lookup("D", "C01X00T47", now=200 * DAY)
    assert got["crossings"] == 2 and got["overstay"] and not got["in_country"]
    [stay] = got["stays"]
    assert (stay["entry_event"], stay["exit_event"], stay["overstay_days"]) == ("e1", "e2", 6)


def test_within_the_stay_is_no_overstay_and_an_open_stay_is_judged_now(tmp_path: Path) -> None:
    h = history(tmp_path)
    h.record(direction="entry", issuing_state="FRA", document_number="12AB34567", at=0)
    assert h.record(direction="exit", issuing_state="FRA", document_number="12AB34567", at=89 * DAY).overstay_days \
        is None
    h.record(direction="entry", issuing_state="FRA", document_number="12AB34567", at=100 * DAY)
    got = h.lookup("FRA", "12AB34567", now=250 * DAY)
    assert got["in_country"] and got["stays"][0]["open"] and got["stays"][0]["overstay_days"] == 61
    assert not got["stays"][1]["overstay"]
    assert h.lookup("FRA", "99999999", now=0) == {"crossings": 0, "stays": [], "overstay": False,
                                                   "in_country": False}


def test_an_exit_without_an_entry_is_kept_unpaired(tmp_path: Path) -> None:
    h = history(tmp_path)
    r = h.record(direction="exit", issuing_state="FRA", document_number="A1", at=10)
    assert r.paired_entry_at is None and r.overstay_days is None
    assert h.lookup("FRA", "A1")["stays"][0]["unpaired_exit"]


def test_permitted_stay_per_nationality_group_from_the_config(tmp_path: Path) -> None:
    cfg = config.parse('[identity]\npost = "p"\ndevice = "d"\n[history]\ndefault_stay_days = 90\n'
                       'stay_days = { transit = 3 }\ngroups = { transit = ["XXA", "NGA"] }\n')
    rules = StayRules.from_config(cfg.history)
    assert rules.for_nationality("NGA") == ("transit", 3) and rules.for_nationality("FRA") == ("default", 90)
    h = history(tmp_path, rules)
    h.record(direction="entry", issuing_state="NGA", document_number="A0001", nationality="NGA", at=0)
    assert h.record(direction="exit", issuing_state="NGA", document_number="A0001", at=5 * DAY).overstay_days == 3
    with pytest.raises(config.ConfigError, match=r"groups\.x: no stay_days\.x"):
        config.parse('[identity]\npost = "p"\ndevice = "d"\n[history]\ngroups = { x = ["FRA"] }\n')


def test_the_file_holds_no_document_number_and_bad_input_is_refused(tmp_path: Path) -> None:
    h = history(tmp_path)
    h.record(direction="entry", issuing_state="FRA", document_number="12AB34567", nationality="FRA")
    h.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "var").iterdir() if p.name.startswith("history.db"))
    assert b"12AB34567" not in raw and b"FRA" not in raw
    h = history(tmp_path)
    with pytest.raises(HistoryError):
        h.record(direction="sideways", issuing_state="FRA", document_number="1")
    with pytest.raises(HistoryError):
        h.lookup(None, "123")


def test_overstay_counts_the_day_of_entry() -> None:
    assert overstay(0, 89.5 * DAY, 90) is None
    assert overstay(0, 90 * DAY, 90) == 1
