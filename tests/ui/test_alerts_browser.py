"""Issue 18's acceptance, end to end: the agency signs an alert list (`borderpost alerts keygen|sign`) and central
publishes it on the retained topics of a real mosquitto; the post's own uplink verifies and applies it; a traveller
on the list (spelt another way than the entry) goes through the kiosk in Chromium and is only told an officer will
help; the officer sees the hit in the booth, must mark it before deciding, and the crossing event carries the list
version and the hit id, never the entry. An older (rollback) list published afterwards is refused and the list stays.

Kill -9 during an apply is tested on a real process in tests/alerts/test_db.py
(test_kill_9_during_apply_leaves_the_old_list_or_the_new_one_never_a_mix), not repeated here.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from edge.alerts.db import AlertDB
from edge.lane.hits import alert_check
from kiosk_ui import i18n
from tests.support.broker import Collector
from tests.ui.conftest import OFFICER, wait_until
from tests.ui.test_browser import browser, find_transaction, kiosk_page, officer_page, shot, sign_in_officer, wait_step  # noqa: F401

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "borderpost/v1"
HIT_ID = "N-2291"
REASON = "notice 17/2291 of the partner agency"
# The entry spells the name as another agency transliterates it, with only the year and month of birth.
ENTRY = {"id": HIT_ID, "kind": "person", "reason": REASON, "action": "refer", "surname": "EL HACHEMI",
         "given_names": "MUHAMMAD ALI", "birth_date": "1984-05", "nationality": "IRQ", "sex": "M"}
OTHERS = [{"id": f"P-{i}", "kind": "person", "reason": "notice", "action": "notify", "surname": f"OKAFOR{i}",
           "given_names": "CHIDI", "birth_date": f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}"} for i in range(300)] + \
         [{"id": "D-1", "kind": "document", "reason": "stolen", "action": "refuse", "issuing_state": "FRA",
           "document_number": "12AB34567"}]


def borderpost(*args: str) -> str:
    """The agency's own tool, as a separate process."""
    run = subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def signed_list(tmp_path: Path, entries: list[dict], version: int) -> bytes:
    listing = tmp_path / f"list-{version}.jsonl"
    listing.write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = tmp_path / f"list-{version}.bundle"
    borderpost("alerts", "sign", "--key", str(tmp_path / "agency-list.pem"), "--version", str(version),
               "-o", str(out), str(listing))
    return out.read_bytes()


def test_a_traveller_on_the_published_list_is_handed_over_and_the_officer_resolves_the_hit(
        make_post, broker, kiosk_page, officer_page, tmp_path: Path, caplog):  # noqa: F811
    from central.alerts import publish
    from central.db import open_db

    caplog.set_level(logging.WARNING, logger="edge.alerts.sync")
    borderpost("alerts", "keygen", str(tmp_path / "agency-list.pem"), str(tmp_path / "agency-list.pub"))
    post = make_post(extra=f'\n[keys]\nalert_list_public_key = "{tmp_path / "agency-list.pub"}"\n')
    check = alert_check(post.lane.checks)
    assert check is not None, "the lane runs no alert-list check although the post has a list key"
    store = Path(post.cfg.store.path)

    central = open_db(f"sqlite:///{tmp_path}/central.db")
    said = publish(central, broker.url, PREFIX, [signed_list(tmp_path, [ENTRY, *OTHERS], 5)], actor="list-admin")
    assert "snapshot 5" in said
    reader = AlertDB.beside(store)
    assert wait_until(lambda: reader.version() == 5, 60), "the uplink did not apply the published list"
    assert reader.counts() == {"document": 1, "person": 301}
    assert wait_until(lambda: check.matcher()[1] == 5, 60), "the lane did not load the applied list"

    collector = Collector(broker.port, f"{PREFIX}/+/+/events/#", client_id="alerts-acceptance")
    try:
        page = kiosk_page
        page.goto(f"{post.url}/kiosk?lang=en")
        page.click('button[name="arg"][value="en"]')
        wait_step(page, "document")
        post.present(surname="AL HASHIMI", given_names="MOHAMED ALI", birth_date=date(1984, 5, 12),
                     nationality="IRQ", issuing_state="IRQ", sex="M", document_number="A12345678")
        wait_step(page, "result", timeout=90_000)
        said_to_traveller = page.inner_text("main")
        assert i18n.translate("en", "result.handover.title") in said_to_traveller
        for secret in ("alert", "list", "hit", HIT_ID, REASON, "HACHEMI", "notice"):
            assert secret.lower() not in said_to_traveller.lower(), secret
        shot(page, "alerts-kiosk-handover")
        code = page.inner_text("#code")
        queued = post.lane.get(code)
        assert queued is not None and "alerts.hit" in queued.alerts

        officer = officer_page
        sign_in_officer(officer, post.url)
        find_transaction(officer, code, "section.hits")
        hits = officer.inner_text("section.hits")
        assert HIT_ID in hits and REASON in hits and "refer" in hits and "ALHASHIMI~ELHACHEMI" in hits
        assert "1984-05" in hits                              # the entry's partial birth date, beside the passport's
        shot(officer, "alerts-booth-hit")

        # deciding before the hit is marked is refused with the reason
        officer.check('input[name="reason"][value="R_H"]')
        officer.click('section.decision button[value="refuse"]')
        officer.wait_for_selector("#decision-error")
        assert i18n.translate("en", "booth.resolve_hits") in officer.inner_text("#decision-error")
        assert post.lane.get(code) is not None                # still waiting for the officer

        officer.click(f'form.hit-finding:has(input[value="{HIT_ID}"]) button[value="same"]')
        officer.wait_for_selector("li.hit p.finding")
        assert i18n.translate("en", "booth.hit_same") in officer.inner_text("li.hit p.finding")
        shot(officer, "alerts-booth-hit-resolved")
        officer.check('input[name="reason"][value="R_H"]')
        officer.click('section.decision button[value="refuse"]')
        officer.wait_for_selector("p.notice")
        assert code in officer.inner_text("p.notice")

        def crossing() -> tuple[bytes, dict] | None:
            for raw in collector.payloads("events/crossing"):
                data = json.loads(raw)["data"]
                if data["transaction"] == code:
                    return raw, data
            return None

        assert collector.wait_for(lambda c: crossing() is not None, 30), "no crossing event reached the broker"
        raw, data = crossing()  # type: ignore[misc]
        assert data["decision"]["outcome"] == "refuse" and data["decision"]["by"] == OFFICER[0]
        assert "R_H" in data["decision"]["reason_codes"]
        verdict = next(v for v in data["checks"] if v["check"] == "alerts.lists")
        assert verdict["outcome"] == "fail" and verdict["reason_codes"] == ["alerts.hit"]
        assert verdict["detail"]["list_version"] == 5 and verdict["detail"]["hit_ids"] == HIT_ID
        text = raw.decode()
        for content in (REASON, "HACHEMI", "MUHAMMAD", "1984-05\"", "partner agency"):
            assert content not in text, f"the event carries the entry's {content!r}"

        audit = {(r["actor"], r["action"]): json.loads(r["detail"]) for r in post.lane.store.audit_entries()}
        assert audit[(OFFICER[0], "alerts.hits_seen")]["hit_ids"] == [HIT_ID]
        assert audit[(OFFICER[0], "alerts.hit_resolved")]["resolution"] == "same_person"
    finally:
        collector.close()

    # an older list published afterwards (a rollback) is refused with the reason; the applied list stays
    publish(central, broker.url, PREFIX, [signed_list(tmp_path, OTHERS, 3)], actor="list-admin")
    assert wait_until(lambda: any("rollback" in r.getMessage() or "older" in r.getMessage()
                                  for r in caplog.records), 30), [r.getMessage() for r in caplog.records]
    assert reader.version() == 5 and reader.counts() == {"document": 1, "person": 301}
    reader.close()
    central.dispose()
