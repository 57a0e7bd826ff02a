"""The EES four-finger sequence on the kiosk in a real browser (Arabic): which finger is shown, a finger the
traveller cannot use is replaced by the other hand's, a finger left on the sensor is asked to lift (never taken
again as the next one), and the record says so. Screenshots in artifacts/."""

from __future__ import annotations

import pytest

from drivers.contract import DeviceKind
from kiosk_ui import i18n
from tests.ui.conftest import wait_until
from tests.ui.test_browser import axe_serious, browser, kiosk_page, shot, wait_step  # noqa: F401

pytestmark = pytest.mark.slow

EES = ('[policy]\nfingerprints = ["right_index", "right_middle", "right_ring", "right_little"]\n\n'
       '[devices.fingerprint]\nbackend = "finger_uareu4000"\nsimulated = true\n')


def test_four_fingers_in_arabic_with_a_stand_in(make_post, kiosk_page):  # noqa: F811
    post = make_post(extra=EES)
    page = kiosk_page
    t = i18n.Translator("ar")
    page.goto(f"{post.url}/kiosk?lang=ar")
    page.click('button[name="arg"][value="ar"]')
    wait_step(page, "document")
    post.present()
    wait_step(page, "fingers", timeout=60_000)
    assert page.get_attribute("svg[data-finger]", "data-finger") == "right_index"
    assert page.get_attribute('rect[data-digit="index"]', "fill") == "#1a8f4a"
    assert t("finger.right_index") in page.inner_text("p.instruction")
    shot(page, "kiosk-ar-finger-1-right-index")
    assert axe_serious(page) == []

    page.click('button[value="finger_injured"]')          # the right index is bandaged
    page.locator('svg[data-finger="left_index"]').wait_for()   # a locator: the page reloads per finger
    assert page.inner_text("p.instruction") == t("finger.stand_in", missing=t("finger.right_index"),
                                                  finger=t("finger.left_index"))
    shot(page, "kiosk-ar-finger-2-stand-in-left-index")

    session = next(iter(post.lane.kiosks.values()))
    sensor = post.lane.devices.first(DeviceKind.FINGERPRINT).simulation

    def taken(f: str) -> bool:
        return any(r.finger == f and r.acceptable for r in session.fingerprints)

    for finger in ("left_index", "right_middle", "right_ring"):
        page.locator(f'svg[data-finger="{finger}"]').wait_for(timeout=30_000)
        shot(page, f"kiosk-ar-finger-{finger}")
        sensor.finger_on()                               # the traveller places that finger and leaves it there
        assert wait_until(lambda f=finger: taken(f), 60), (finger, session.fingerprints, session.feedback)
        # the lane waits: the next finger's picture, and the request to lift this one first
        page.locator('[data-live="feedback"]', has_text=t("finger.lift")).wait_for(timeout=30_000)
        if finger == "left_index":
            shot(page, "kiosk-ar-finger-lift")
        sensor.finger_off()
    page.locator('svg[data-finger="right_little"]').wait_for(timeout=30_000)
    page.click("form.sim button")                        # the demo's traveller places the last one
    wait_step(page, "result", timeout=60_000)
    shot(page, "kiosk-ar-finger-result")
    assert [r.finger for r in session.fingerprints] == ["right_index", "left_index", "right_middle", "right_ring",
                                                        "right_little"]     # each finger once, none taken twice
    by = {r.finger: r for r in session.fingerprints}
    assert by["right_index"].skipped == "injured"
    assert by["left_index"].replaces == "right_index" and by["left_index"].algorithm.startswith("nfiq2/")
    assert session.verdicts["finger.capture"].outcome == "pass"
