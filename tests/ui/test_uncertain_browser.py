"""An imaged data page whose name the reader cannot settle, in a real browser: the kiosk hands the traveller to
an officer without saying why, the booth shows the name as read with the other reading, the officer confirms
it, and the crossing event and the audit log record that.

The page is two renderings of the same passport blended half and half, one with the surname MARTIN and one
with HARTIN: the M/H cell is genuinely ambiguous (names have no check digit), every checked field is clean.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.lane.document import offer_page_image
from kiosk_ui import i18n
from tests.documents.ambiguous import ambiguous_name_page
from tests.support.broker import Collector
from tests.ui.test_browser import (  # noqa: F401
    browser,
    crossing_event,
    find_transaction,
    kiosk_page,
    officer_page,
    shot,
    sign_in_officer,
    wait_step,
)

pytestmark = pytest.mark.slow


def test_uncertain_name_goes_to_the_officer_who_confirms_it(make_post, broker, kiosk_page, officer_page,  # noqa: F811
                                                             tmp_path: Path):
    post = make_post()
    lane = post.lane
    page_file = tmp_path / "page.jpg"
    ambiguous_name_page(page_file)
    collector = Collector(broker.port, "borderpost/v1/#", client_id="ui-uncertain")
    try:
        page = kiosk_page
        page.goto(f"{post.url}/kiosk?lang=en")
        page.click('button[name="arg"][value="en"]')
        wait_step(page, "document")
        assert offer_page_image(lane, page_file, "page_camera")
        wait_step(page, "result", timeout=60_000)
        code = page.inner_text("#code")
        kiosk_text = page.inner_text("body")
        assert i18n.translate("en", "result.handover.title") in page.inner_text("h1")
        assert "ARTIN" not in kiosk_text and "uncertain" not in kiosk_text.lower()   # only "an officer will help"
        shot(page, "kiosk-en-uncertain-handover")
        q = lane.get(code)
        verdict = next(v for v in q.checks if v.check == "document.validity")
        assert verdict.outcome == "confirm" and verdict.reason_codes == ["document.uncertain"]
        assert list(q.document.uncertain_fields) == ["name"] and all(q.document.checks.values())

        officer = officer_page
        sign_in_officer(officer, post.url)
        find_transaction(officer, code, "section.uncertain")
        form = officer.locator('form.uncertain-field[data-field="name"]')
        shown = form.locator("bdi.mrz-value").all_inner_texts()
        assert sorted(shown) == ["HARTIN, ANNA", "MARTIN, ANNA"], shown
        read_as = q.document.surname
        other = "MARTIN" if read_as == "HARTIN" else "HARTIN"
        shot(officer, "booth-uncertain-name")

        officer.click('button[value="admit"]')                       # not before the name is settled
        officer.wait_for_selector("#decision-error")
        assert officer.inner_text("#decision-error") == i18n.translate("en", "booth.confirm_document")

        form = officer.locator('form.uncertain-field[data-field="name"]')
        form.locator("label", has_text=f"{other}, ANNA").locator('input[type="radio"]').check()
        form.locator('button[name="confirm_field"]').click()
        officer.wait_for_selector('form.uncertain-field[data-field="name"] legend:has-text("✓")')
        assert lane.get(code).document.surname == other
        assert officer.inner_text("section.warnings").count("⚠") == 1   # the hand-over's one reason
        assert i18n.translate("en", "reason.document.uncertain") in officer.inner_text("section.warnings")
        shot(officer, "booth-uncertain-name-confirmed")
        officer.check("#confirm-admit")
        officer.click('button[value="admit"]')
        officer.wait_for_selector("p.notice")
        assert code in officer.inner_text("p.notice")

        data = crossing_event(collector, code)
        assert data["decision"]["outcome"] == "admit"
        assert "officer.confirmed_document" in data["decision"]["reason_codes"]
        assert data["document"]["surname"] == other and data["document"]["confirmed_fields"] == {"name": "alternative"}
        assert data["document"]["uncertain_fields"] == {"name": [f"{other}<<ANNA"]}
        assert {v["check"]: v["outcome"] for v in data["checks"]}["document.validity"] == "confirm"
        rows = lane.store.conn.execute("SELECT actor, detail FROM audit WHERE action = 'booth.document_confirmed' "
                                       "AND subject = ?", (code,)).fetchall()
        assert [(actor, json.loads(detail)) for actor, detail in rows] == [("officer1", {"field": "name",
                                                                                         "how": "alternative"})]
    finally:
        collector.close()
