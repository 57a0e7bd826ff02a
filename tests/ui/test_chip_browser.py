"""The chip in the crossing, in a real browser: the chip's DG2 face is the face match's reference and the booth
shows the chip's verdicts (an in-process test passport from tests/chip/card stands in for the reader's card)."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import cv2
import pytest

from drivers.contract import DeviceKind
from edge.devices import OpenDevice
from edge.documents.synth import make_mrz
from edge.lane.steps import register_chip_reader
from tests.chip.card.inprocess import SimulatedChip, issue_for, trust_store
from tests.fixtures import face_images
from tests.ui.test_browser import browser, find_transaction, kiosk_page, officer_page, shot, sign_in_officer, wait_step  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def chip_reader_installed():
    from edge.chip.step import read_chip

    register_chip_reader(lambda dev, mrz: read_chip(dev.device, mrz, trust_store(), wait_s=0.5))
    yield
    register_chip_reader(None)


def test_chip_face_is_the_reference_and_the_booth_shows_chip_verdicts(make_post, kiosk_page, officer_page,  # noqa: F811
                                                                     chip_reader_installed, tmp_path: Path):
    post = make_post()
    mrz = "\n".join(make_mrz("TD3", rng=random.Random(11), expiry_date=date(2034, 6, 30)))
    photo = cv2.imread(str(face_images.portrait_path("a2")))
    # a passport's DG2 is a small portrait (ICAO: typically 15-20 KB): the same photo at about 300x500
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(photo, (300, round(300 * photo.shape[0] / photo.shape[1]))),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    lane = post.lane
    lane.devices.devices["chip"] = OpenDevice("chip", "chip_inprocess",
                                              SimulatedChip(issue_for(tmp_path / "card", mrz, jpeg.tobytes())))
    lane.set_options(lane.options)
    assert lane.rules.chip

    page = kiosk_page
    page.goto(f"{post.url}/kiosk?lang=en")
    page.click('button[name="arg"][value="en"]')
    wait_step(page, "document")
    lane.devices.first(DeviceKind.MRZ).simulation.present(mrz.split("\n"))
    wait_step(page, "result", timeout=90_000)
    code = page.inner_text("#code")
    session = next(iter(lane.kiosks.values()))
    assert session.verdicts["chip.authentication"].outcome == "pass", session.verdicts["chip.authentication"]
    assert session.face is not None and session.face.match is True       # against the chip's DG2 face

    officer = officer_page
    sign_in_officer(officer, post.url)
    find_transaction(officer, code, "section.verdicts")
    assert "chip.authentication" in officer.inner_text("section.verdicts")
    assert officer.is_visible('img[src$="face_portrait.jpg"]')
    shot(officer, "booth-chip-verdicts")
