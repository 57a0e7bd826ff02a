"""The alerts.lists check in the lane: hits hand over with the neutral message, the event gets version and ids
only, stale lists warn or hand over, the booth's view and the audit records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge import config
from edge.alerts.check import AlertListCheck, check_from_config, record_resolution, record_seen, unresolved
from edge.events.model import DocumentSummary
from edge.lane.checks import SEE_OFFICER, Context, build_checks, run_check
from edge.store import Store
from tests.alerts.helpers import document, open_db, person, snapshot, write_public

KEY = Ed25519PrivateKey.generate()
ENTRIES = [person("p-1", "AL HASSAN", "MUHAMMAD", "1985-03-07", nationality="SYR"),
           document("d-1", "FRA", "12AB34567", surname="MARTIN")]
ON_LIST = DocumentSummary(document_code="P", issuing_state="SYR", document_number="N0000001", nationality="SYR",
                          surname="ELHASSAN", given_names="MOHAMED", birth_date="1985-03-07", sex="M", valid=True)
CLEAR = ON_LIST.model_copy(update={"surname": "SMITH", "given_names": "JOHN"})


def make_check(tmp_path: Path, policy: str = "warn", issued_at: str | None = None) -> AlertListCheck:
    db = open_db(tmp_path, KEY)
    from edge.alerts.bundle import make_bundle
    from edge.alerts.entries import dump_entries

    db.apply_bundle(make_bundle(dump_entries(ENTRIES), KEY, version=7, issued_at=issued_at), source="test")
    return AlertListCheck(db, stale_after_hours=48, stale_policy=policy)


def test_a_hit_hands_over_with_the_neutral_message_and_only_ids_in_the_event(tmp_path: Path) -> None:
    v = run_check(make_check(tmp_path), Context(document=ON_LIST))
    assert (v.outcome, v.reason_codes, v.message) == ("fail", ["alerts.hit"], SEE_OFFICER)
    assert v.detail["list_version"] == 7 and v.detail["hit_ids"] == "p-1" and v.detail["hits"] == 1
    text = json.dumps(v.model_dump())
    for content in ("HASSAN", "MUHAMMAD", "notice", "1985"):
        assert content not in text


def test_no_hit_passes_and_no_document_is_not_run(tmp_path: Path) -> None:
    check = make_check(tmp_path)
    assert run_check(check, Context(document=CLEAR)).outcome == "pass"
    assert run_check(check, Context()).outcome == "not_run"


@pytest.mark.parametrize(("policy", "outcome", "message"), [("warn", "warn", None), ("hand_over", "fail", SEE_OFFICER)])
def test_a_stale_list_warns_or_hands_every_traveller_over(tmp_path: Path, policy: str, outcome: str,
                                                          message: str | None) -> None:
    check = make_check(tmp_path, policy, issued_at="2020-01-01T00:00:00Z")
    v = run_check(check, Context(document=CLEAR))
    assert (v.outcome, v.reason_codes, v.message) == (outcome, ["alerts.list_stale"], message)
    assert v.detail["stale"] is True and v.detail["list_age_hours"] > 48


def test_no_list_at_all_counts_as_stale(tmp_path: Path) -> None:
    check = AlertListCheck(open_db(tmp_path, KEY), stale_policy="hand_over")
    v = run_check(check, Context(document=CLEAR))
    assert (v.outcome, v.reason_codes) == ("fail", ["alerts.no_list"])


def test_a_newer_list_is_picked_up_by_the_running_check(tmp_path: Path) -> None:
    check = make_check(tmp_path)
    assert run_check(check, Context(document=CLEAR)).outcome == "pass"
    check.db.apply_bundle(snapshot(KEY, [person("p-2", "SMITH", "JOHN", "1985-03-07")], 8), source="test")
    import time

    end = time.monotonic() + 30
    while time.monotonic() < end:
        v = run_check(check, Context(document=CLEAR))
        if v.outcome == "fail":
            break
        time.sleep(0.05)
    assert v.detail["hit_ids"] == "p-2" and v.detail["list_version"] == 8


def test_the_booth_view_and_the_audit_log(tmp_path: Path) -> None:
    check = make_check(tmp_path)
    [hit] = check.booth_hits(ON_LIST)
    assert (hit["id"], hit["kind"], hit["action"], hit["reason"]) == ("p-1", "person", "refer", "notice")
    assert hit["entry"]["surname"] == "AL HASSAN" and 0.8 <= hit["score"] <= 1 and hit["why"]
    [doc] = check.booth_hits(ON_LIST.model_copy(update={"issuing_state": "FRA", "document_number": "12AB34567",
                                                         "surname": "X", "given_names": "Y"}))
    assert doc["entry"]["reason"] == "stolen" and "document_number" not in doc["entry"]
    store = Store.open(tmp_path / "var" / "borderpost.db")
    record_seen(store, "officer-7", "session-1", 7, ["p-1"])
    record_resolution(store, "officer-7", "session-1", 7, "p-1", same_person=False)
    rows = store.audit_entries()
    assert [r["action"] for r in rows[:2]] == ["alerts.hit_resolved", "alerts.hits_seen"]
    assert rows[0]["actor"] == "officer-7" and "not_same_person" in rows[0]["detail"]
    assert store.verify_audit_chain()
    assert unresolved(["p-1", "p-2"], {"p-1": False}) == ["p-2"]


def test_the_lane_builds_the_check_from_the_config(tmp_path: Path) -> None:
    pub = write_public(KEY, tmp_path / "list.pub")
    text = f"""
[identity]
post = "p"
device = "d"
[keys]
alert_list_public_key = "{pub}"
[store]
path = "{tmp_path}/var/borderpost.db"
[alerts]
stale_policy = "hand_over"
"""
    cfg = config.parse(text)
    check = check_from_config(cfg)
    assert isinstance(check, AlertListCheck) and check.stale_policy == "hand_over"
    assert "alerts.lists" in [c.id for c in build_checks(cfg)]
    no_key = config.parse(text.replace(f'alert_list_public_key = "{pub}"', ""))
    assert check_from_config(no_key) is None
