"""Issue 16 in a real browser (Debian's Chromium, Playwright): the new booth and kiosk screens, screenshots into
artifacts/screenshots/, and axe-core on each (no serious or critical violation)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from drivers.contract import DeviceKind
from edge.documents.synth import make_mrz
from kiosk_ui import i18n
from tests.ui.conftest import OFFICER, wait_until
from tests.ui.test_browser import axe_serious, browser, shot, sign_in_officer, wait_step  # noqa: F401
from tests.ui.test_people import SECRET_NOTE, SUPERVISOR, protection_post

pytestmark = pytest.mark.slow


@pytest.fixture
def staff_page(browser):  # noqa: F811
    # bypass_csp only so the test can inject axe-core; the app's own CSP is asserted over HTTP
    ctx = browser.new_context(viewport={"width": 1400, "height": 1400}, bypass_csp=True)
    page = ctx.new_page()
    yield page
    ctx.close()


@pytest.fixture
def traveller_page(browser):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1080, "height": 1300}, bypass_csp=True, locale="ar")
    page = ctx.new_page()
    yield page
    ctx.close()


def test_person_without_a_document_recorded_and_referred_in_the_booth(make_post, tmp_path, staff_page):
    post, _private = protection_post(make_post, tmp_path)
    page = staff_page
    sign_in_officer(page, post.url)
    page.click("#nodoc")
    page.wait_for_selector("form.nodoc")
    assert axe_serious(page) == []
    page.fill("#surname", "Amani")
    page.fill("#given_names", "Noor")
    page.fill("#estimated_age", "15")
    page.fill("#nationality", "SDN")
    page.check('input[name="sex"][value="F"]')
    page.check('input[name="reason"][value="destroyed"]')
    shot(page, "booth-nodoc-form")
    page.click("#nodoc-record")
    page.wait_for_selector("section.screening")
    code = page.url.rsplit("/", 1)[1]
    page.check('input[name="q_asylum"][value="yes"]')
    page.select_option("#partner", "PARTNER-A")
    page.fill("#screen-note", SECRET_NOTE)
    assert axe_serious(page) == []
    shot(page, "booth-nodoc-transaction")
    page.click("#screen-save")
    page.wait_for_selector("#referral-sealed")
    assert SECRET_NOTE not in page.content()
    page.click('button[name="outcome"][value="refer"]')
    page.wait_for_selector("#q")
    assert code not in [q.code for q in post.lane.queue()]
    assert SECRET_NOTE not in page.content()


def test_supervisor_audit_view_filters_by_officer(make_post, staff_page):
    post = make_post()
    post.server.accounts.add(SUPERVISOR[0], "Sup", "supervisor", SUPERVISOR[1])
    page = staff_page
    sign_in_officer(page, post.url)
    page.click("form[action='/booth/signout'] button")
    page.wait_for_selector("#user")
    page.fill("#user", SUPERVISOR[0])
    page.fill("#password", SUPERVISOR[1])
    page.click("form.signin button")
    page.click("#audit-link")
    page.wait_for_selector("table.audit")
    page.select_option("#officer", OFFICER[0])
    page.click("form.audit-filter button")
    page.wait_for_selector("table.audit")
    actors = set(page.locator("td.actor").all_inner_texts())
    assert actors == {OFFICER[0]}
    assert axe_serious(page) == []
    shot(page, "booth-audit-filtered")


def test_manual_mrz_entry_validates_as_the_officer_types(make_post, staff_page):
    post = make_post()
    page = staff_page
    sign_in_officer(page, post.url)
    page.click("#mrz-link")
    page.wait_for_selector("#lines")
    lines = make_mrz("TD3", rng=random.Random(9))
    page.fill("#lines", lines[0])
    page.wait_for_selector("#mrz-result p.bad")
    page.fill("#lines", "\n".join(lines))
    page.wait_for_selector("#mrz-result p.ok")
    assert axe_serious(page) == []
    shot(page, "booth-mrz-entry")


def test_expired_passport_reason_in_arabic_and_spoken(make_post, traveller_page):
    post = make_post()
    page = traveller_page
    page.goto(f"{post.url}/kiosk?lang=ar")
    wait_step(page, "language")
    page.click('button[name="arg"][value="ar"]')
    wait_step(page, "document")
    page.click("#speech-toggle")
    page.wait_for_selector("audio#speech")
    reader = post.lane.devices.first(DeviceKind.MRZ).simulation
    reader.present(make_mrz("TD3", rng=random.Random(3), expiry_date=date(2020, 1, 31)))
    wait_step(page, "result")
    assert i18n.translate("ar", "result.document_expired") in page.inner_text("main")
    assert page.get_attribute("html", "dir") == "rtl"
    duration = page.evaluate("""() => new Promise((ok, bad) => {
        const a = document.getElementById('speech');
        if (a.readyState >= 1) return ok(a.duration);
        a.addEventListener('loadedmetadata', () => ok(a.duration));
        a.addEventListener('error', () => bad('audio error'));
    })""")
    assert 1.0 < duration < 30.0, duration
    assert axe_serious(page) == []
    shot(page, "kiosk-ar-expired-reason-spoken")
    assert wait_until(lambda: len(post.lane.queue()) == 1)
