"""The UIs in a real browser: Debian's Chromium driven by Playwright, simulated devices, a real mosquitto.

Screenshots of every kiosk screen in ar/en/fr and of the officer's decision screen are written to
artifacts/screenshots/ (CI keeps them). axe-core (vendored, tests/fixtures/ui) checks every kiosk screen.
"""

from __future__ import annotations

import atexit
import json
import shutil
from pathlib import Path

import pytest

from drivers.contract import DeviceKind
from edge.lane.options import Options
from edge.lane.session import Timing
from kiosk_ui import i18n
from tests.support.broker import Collector
from tests.ui.conftest import ARTIFACTS, OFFICER, wait_until

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[1] / "fixtures" / "ui" / "axe.min.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


_SHARED: dict = {}


def _stop_shared() -> None:
    b, p = _SHARED.pop("browser", None), _SHARED.pop("playwright", None)
    if b is not None:
        b.close()
    if p is not None:
        p.stop()


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole run, even when other modules import this fixture (each import is its own
    fixture to pytest, and a second Playwright in the same process fails: one asyncio loop per thread)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: apt-get install chromium (CI's .ci/run does)")
    if "browser" not in _SHARED:
        from playwright.sync_api import sync_playwright

        _SHARED["playwright"] = p = sync_playwright().start()
        _SHARED["browser"] = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        atexit.register(_stop_shared)
    yield _SHARED["browser"]


@pytest.fixture
def kiosk_page(browser):
    # bypass_csp only so the test can inject axe-core; the app's own CSP is asserted over HTTP
    ctx = browser.new_context(viewport={"width": 1080, "height": 1300}, bypass_csp=True, locale="en-GB")
    page = ctx.new_page()
    yield page
    ctx.close()


@pytest.fixture
def officer_page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = ctx.new_page()
    yield page
    ctx.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def axe_serious(page) -> list[str]:
    """Serious or critical accessibility violations on the page, as 'rule: target' strings."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    out = []
    for v in result["violations"]:
        if v["impact"] in ("serious", "critical"):
            out += [f"{v['id']}: {n['target']}" for n in v["nodes"]]
    return out


def wait_step(page, step: str, timeout: float = 30_000) -> None:
    """Until the kiosk shows `step`. A locator wait returns no element: the kiosk reloads itself on every change,
    and adopting an element handle from a page that is being replaced can wait out the whole timeout."""
    page.locator(f'body[data-step="{step}"]').wait_for(timeout=timeout)


def sign_in_officer(page, url: str) -> None:
    page.goto(f"{url}/booth")
    assert page.url.endswith("/booth/signin")
    page.fill("#user", OFFICER[0])
    page.fill("#password", OFFICER[1])
    page.click("form.signin button")
    page.wait_for_selector("#q")


def find_transaction(page, code: str, section: str) -> None:
    """In the signed-in booth, open the transaction `code` and wait for its `section`."""
    page.fill("#q", code)
    page.click("form.find button")
    page.wait_for_selector(section)


def crossing_event(collector, code: str, timeout: float = 20.0) -> dict:
    """The data of the crossing event the broker carried for transaction `code` (fails after `timeout` s)."""
    def find(c) -> dict | None:
        for p in c.payloads("events/crossing"):
            data = json.loads(p)["data"]
            if data["transaction"] == code:
                return data
        return None

    assert collector.wait_for(lambda c: find(c) is not None, timeout), f"no crossing event for {code}"
    return find(collector)


@pytest.mark.parametrize("lang", ["ar", "en", "fr"])
def test_kiosk_screens_in_every_language_are_accessible(make_post, kiosk_page, lang):
    post = make_post()
    page = kiosk_page
    t = i18n.Translator(lang)
    page.goto(f"{post.url}/kiosk?lang={lang}")
    wait_step(page, "language")
    assert page.get_attribute("html", "dir") == t.dir and page.get_attribute("html", "lang") == lang
    shot(page, f"kiosk-{lang}-1-language")
    assert axe_serious(page) == []
    page.click(f'button[name="arg"][value="{lang}"]')
    wait_step(page, "document")
    assert page.inner_text("h1") == t("doc.title")
    shot(page, f"kiosk-{lang}-2-document")
    assert axe_serious(page) == []

    camera = post.lane.devices.first(DeviceKind.CAMERA).simulation
    camera.no_face()                                     # the face step first asks the traveller to step in
    post.present()
    wait_step(page, "face")
    checking = t("face.checking")
    page.wait_for_function("c => document.querySelector('[data-live=feedback]').textContent.trim() !== c", arg=checking)
    page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
    shot(page, f"kiosk-{lang}-3-face")
    assert axe_serious(page) == []
    camera.present()
    wait_step(page, "result")
    code = page.inner_text("#code")
    assert code == next(iter(post.lane.kiosks.values())).code
    assert page.inner_text("h1").strip().endswith(t("result.complete.title"))
    assert page.get_attribute("img.qr", "src").startswith("data:image/svg+xml")
    shot(page, f"kiosk-{lang}-4-result")
    assert axe_serious(page) == []


def test_arabic_traveller_then_officer_admits_and_event_reaches_broker(make_post, broker, kiosk_page,
                                                                     officer_page):
    post = make_post()
    collector = Collector(broker.port, "borderpost/v1/#", client_id="ui-browser")
    try:
        page = kiosk_page
        page.goto(f"{post.url}/kiosk")
        page.click('button[name="arg"][value="ar"]')
        wait_step(page, "document")
        assert page.get_attribute("html", "dir") == "rtl"
        assert page.inner_text("p.instruction") == i18n.translate("ar", "doc.instruction")
        post.present()
        wait_step(page, "result")
        assert page.inner_text("p.where") == i18n.translate("ar", "result.complete.where")
        code = page.inner_text("#code")

        officer = officer_page
        sign_in_officer(officer, post.url)
        assert code in officer.inner_text("table.queue")
        find_transaction(officer, code, "section.decision")
        assert officer.is_visible('img[src$="face_live.jpg"]') and officer.is_visible('img[src$="face_portrait.jpg"]')
        shot(officer, "booth-decision")
        officer.click('button[value="admit"]')
        officer.wait_for_selector("p.notice")
        assert code in officer.inner_text("p.notice")

        data = crossing_event(collector, code)
        assert data["decision"]["outcome"] == "admit" and data["decision"]["by"] == OFFICER[0]
        assert data["direction"] == "entry" and data["document"]["valid"] is True
    finally:
        collector.close()


def test_expired_document_is_handed_to_an_officer(make_post, kiosk_page):
    post = make_post()
    page = kiosk_page
    page.goto(f"{post.url}/kiosk?lang=en")
    page.click('button[name="arg"][value="en"]')
    wait_step(page, "document")
    post.present(expired=True)
    wait_step(page, "result")
    assert i18n.translate("en", "result.handover.title") in page.inner_text("h1")
    shot(page, "kiosk-en-handover")
    q = post.lane.queue()
    assert len(q) == 1 and q[0].alerts == ["document.expired"] and q[0].code == page.inner_text("#code")


def test_idle_timeout_warns_then_resets(make_post, kiosk_page):
    post = make_post(Options(timing=Timing(document=5.0, warn_before=3.5)))
    page = kiosk_page
    page.goto(f"{post.url}/kiosk?lang=fr")
    page.click('button[name="arg"][value="fr"]')
    wait_step(page, "document")
    first = page.get_attribute("body", "data-code")
    page.wait_for_selector("#warning:not([hidden])", timeout=10_000)
    assert i18n.translate("fr", "common.still_there") in page.inner_text("#warning")
    shot(page, "kiosk-fr-timeout-warning")
    wait_step(page, "language", timeout=15_000)
    assert page.get_attribute("body", "data-code") != first
    assert post.lane.queue() == []          # nobody's document was read: nothing to record


def test_more_time_keeps_the_session(make_post, kiosk_page):
    post = make_post(Options(timing=Timing(document=8.0, warn_before=5.0)))
    page = kiosk_page
    page.goto(f"{post.url}/kiosk?lang=en")
    page.click('button[name="arg"][value="en"]')
    wait_step(page, "document")
    code = page.get_attribute("body", "data-code")
    page.wait_for_selector("#warning:not([hidden])", timeout=10_000)
    page.click('#warning button[value="more_time"]')
    wait_step(page, "document")
    assert page.get_attribute("body", "data-code") == code
    assert wait_until(lambda: not page.is_visible("#warning"), 3)


def test_kiosk_cannot_open_an_officer_page(make_post, kiosk_page):
    post = make_post()
    page = kiosk_page
    page.goto(f"{post.url}/kiosk")
    wait_step(page, "language")
    page.goto(f"{post.url}/booth")
    assert page.url.endswith("/booth/signin") and not page.is_visible("table.queue")
    # even with the kiosk's own session id forced into the booth's cookie, the booth refuses it
    kiosk_id = next(c["value"] for c in page.context.cookies() if c["name"] == "bp_kiosk")
    page.context.add_cookies([{"name": "bp_booth", "value": kiosk_id, "url": f"{post.url}/booth"}])
    response = page.goto(f"{post.url}/booth")
    assert response is not None and response.status == 403


def test_officer_idle_sign_out_warns_first(make_post, officer_page):
    post = make_post(Options(officer_idle_s=4.0, officer_idle_warn_s=2.5))
    page = officer_page
    sign_in_officer(page, post.url)
    page.wait_for_selector("#idle-warning:not([hidden])", timeout=6_000)
    page.wait_for_url("**/booth/signin?idle=1", timeout=8_000)
    assert i18n.translate("en", "booth.signed_out_idle") in page.inner_text("main")


def test_keyboard_only_high_contrast_and_large_text(make_post, kiosk_page):
    post = make_post()
    page = kiosk_page
    page.goto(f"{post.url}/kiosk?lang=ar")
    wait_step(page, "language")
    page.click('button[name="toggle"][value="contrast"]')
    page.wait_for_selector("html.pref-contrast")
    page.click('button[name="toggle"][value="large"]')
    page.wait_for_selector("html.pref-large.pref-contrast")
    assert page.get_attribute('button[value="contrast"]', "aria-pressed") == "true"
    assert axe_serious(page) == []
    shot(page, "kiosk-ar-high-contrast-large")
    # keyboard only: tab to the Arabic choice and press Enter
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.value") == "ar" and \
                page.evaluate("document.activeElement.name") == "arg":
            break
    else:
        pytest.fail("the language buttons cannot be reached with Tab")
    page.keyboard.press("Enter")
    wait_step(page, "document")
    assert set(page.get_attribute("html", "class").split()) == {"pref-large", "pref-contrast"}
    assert axe_serious(page) == []


def test_booth_opens_the_transaction_when_its_document_is_scanned(make_post, officer_page):
    import time

    from tests.ui.test_http import kiosk_to_document

    post = make_post()
    kiosk_to_document(post)
    post.present(seed=11)
    presented = time.monotonic()
    assert wait_until(lambda: post.lane.queue(), 30)
    code = post.lane.queue()[0].code
    page = officer_page
    sign_in_officer(page, post.url)
    page.wait_for_timeout(max(0, 2300 - (time.monotonic() - presented) * 1000))  # past the reader's repeat window
    post.lane.kiosks.clear()                        # no kiosk waits: the read is the officer's scan
    post.present(seed=11)
    page.wait_for_url(f"**/booth/t/{code}", timeout=10_000)
    assert page.is_visible("section.decision")
