"""The printed portrait on an imaged data page, used as the reference for the kiosk's 1:1 face match.

A page camera images the document lying on the reader. Its portrait is only a reference if the page is
the document the MRZ reader read: the page's own MRZ (OCR'd by `edge.documents.image`) must give the same
document number (OCR-confusable glyphs equated) and birth date as the reader's check-digit-verified read.
Otherwise there is no portrait (a reason instead), and the traveller goes to an officer as when nothing is
compared.

The face is the largest one not on the MRZ band (a data page also prints smaller ghost images), cropped
with room around it, so the matcher's own detection and alignment run on the crop as on any photo.
Nothing here logs, and a result carries no personal data but the crop itself.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.documents import image as mrz_image
from edge.documents import reader as mrz_reader
from edge.documents.ocr import OcrUnavailable
from edge.events.model import DocumentSummary

MIN_SIDE = 200              # px: below this no MRZ can be OCR'd and no portrait is big enough to match
MAX_PIXELS = 40_000_000     # a page camera delivers 2-12 MP; larger is not a camera frame
DETECT_SIDES = (640, 1280)  # the portrait is ~1/4 of a page's width: found at 640, else at 1280
CROP_MARGIN = 0.6           # of the face box, each side: head and shoulders, as the detector expects
CROP_MIN_SIDE = 320         # px: small crops are enlarged so the matcher's detector sees a normal face
MRZ_ATTEMPTS = 3            # OCR attempts on the page's MRZ (each ~60-120 ms)
FADED_RANGE = 128           # lightness span (1st-99th percentile, of 255) below which a crop is faded: rendered
                            # pages' crops span 140-250, low-contrast and combined-distortion ones 60-110

REASONS = {
    "page.unusable": "no usable page image (none, not an image, too small or too large)",
    "page.ocr_unavailable": "the page's MRZ could not be OCR'd (OCR engine missing or failed)",
    "page.no_mrz": "no MRZ band found on the page",
    "page.mrz_unreadable": "the page's MRZ differs from the read, but its own check digits fail: a misread",
    "page.other_document": "the page is not the document the reader read",
    "page.no_face": "no face found on the page",
}


@dataclass(frozen=True)
class PagePortrait:
    """The portrait crop (BGR), or the reason there is none (a key of `REASONS`). No personal data else."""

    image: np.ndarray | None
    reason: str | None
    seconds: float = 0.0
    face_box: tuple[float, float, float, float] | None = None   # x, y, w, h on the page
    faces: int = 0                                               # faces the detector saw on the page

    @property
    def ok(self) -> bool:
        return self.image is not None


def _as_bgr(page: Any) -> np.ndarray | None:
    """A uint8 BGR array of a plausible size, or None: bad input becomes a reason, never an exception."""
    if not isinstance(page, np.ndarray) or page.dtype != np.uint8 or page.ndim not in (2, 3):
        return None
    if page.ndim == 3 and page.shape[2] not in (1, 3, 4):
        return None
    h, w = page.shape[:2]
    if min(h, w) < MIN_SIDE or h * w > MAX_PIXELS:
        return None
    if page.ndim == 2 or page.shape[2] == 1:
        return cv2.cvtColor(page.reshape(h, w), cv2.COLOR_GRAY2BGR)
    if page.shape[2] == 4:
        return cv2.cvtColor(page, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(page)


# Glyphs the OCR confuses in alphanumeric fields (OCR-B O/0, B/8, ...; W read as N or H below ~26 px pitch).
# Misreads can leave a check digit valid (O->0 at weights 3 and 7 adds 24*10): bench/portrait.py saw a page
# read as 0BZUHG03I for OBZUHG03I and EKT603H98 for EKT6O3W9B. Numbers are compared through this map, and the
# birth date must match too: the check is against mix-ups (another passport on the glass, the last traveller's
# page), not forgery (a forger prints whatever MRZ is wanted; only the chip's signature defends against that).
_CONFUSABLE = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "Z": "2", "S": "5", "G": "6", "B": "8",
                             "W": "N", "H": "N", "M": "N"})


def _norm_number(number: str | None) -> str:
    return (number or "").replace("<", "").strip().upper().translate(_CONFUSABLE)


def same_document(doc: DocumentSummary, number: str | None, birth_date: str | None) -> bool:
    """Same document number (fillers ignored; OCR-confusable glyphs such as O/0 equated) and the same birth
    date: the page belongs to the MRZ the reader read."""
    want = _norm_number(doc.document_number)
    return bool(want) and doc.birth_date is not None and want == _norm_number(number) \
        and doc.birth_date == birth_date


def mrz_band_box(gray: np.ndarray) -> tuple[float, float, float, float] | None:
    """The MRZ band's axis-aligned box (x0, y0, x1, y1) in page pixels, found as `image.locate_band` finds it
    (for a frame nobody OCRs: the technician's page-camera check)."""
    lines = mrz_image.band_lines(gray)
    if lines is None:
        return None
    (x0, y0), (x1, y1) = lines.corners.min(axis=0), lines.corners.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _overlaps(box: tuple[float, float, float, float], band: tuple[float, float, float, float] | None) -> bool:
    if band is None:
        return False
    x, y, w, h = box
    return x < band[2] and x + w > band[0] and y < band[3] and y + h > band[1]


def choose_face(faces: list[Any], band: tuple[float, float, float, float] | None) -> Any | None:
    """The largest face off the MRZ band (else the largest): the portrait, not a ghost image or a stray."""
    if not faces:
        return None
    by_area = sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)
    clear = [f for f in by_area if not _overlaps(f.box, band)]
    return (clear or by_area)[0]


def crop_portrait(page: np.ndarray, box: tuple[float, float, float, float], margin: float = CROP_MARGIN,
                  min_side: int = CROP_MIN_SIDE) -> np.ndarray:
    """The face with `margin` of its size around it (clipped to the page), enlarged to at least `min_side`."""
    x, y, w, h = box
    ph, pw = page.shape[:2]
    x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    x1, y1 = min(pw, int(np.ceil(x + w + margin * w))), min(ph, int(np.ceil(y + h + margin * h)))
    crop = page[y0:y1, x0:x1].copy()
    side = max(crop.shape[:2])
    if 0 < side < min_side:
        f = min_side / side
        crop = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    return crop


def level(crop: np.ndarray, low: float = 1.0, high: float = 99.0, faded: float = FADED_RANGE) -> np.ndarray:
    """Stretch a faded crop's lightness to the full range; leave a normal one as it is.

    A faded print or a washed-out frame loses genuine matches (bench page: 0.13 -> 0.45), but stretching a
    normal crop only nudges every score up, impostors' too (the hardest impostor pair 0.369 -> 0.380 at the
    0.38 threshold), so only crops whose 1st-99th percentile lightness spans less than `faded` are stretched.
    """
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    lightness = lab[..., 0].astype(np.float32)
    lo, hi = np.percentile(lightness, (low, high))
    if not 8 <= hi - lo < faded:      # flat (nothing to stretch) or already contrasted
        return crop
    lab[..., 0] = np.clip((lightness - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def detect_faces(analyzer: Any, page: np.ndarray) -> list[Any]:
    """Faces on a page: at 640 px the portrait is found, else at 1280."""
    return analyzer.faces(page, DETECT_SIDES)


def portrait_from_page(page_bgr: Any, doc: DocumentSummary, analyzer: Any,
                       today: dt.date | None = None) -> PagePortrait:
    """The portrait on an imaged data page, if the page's MRZ is the document `doc` that the reader read.

    `analyzer` is an `edge.biometrics.face.FaceAnalyzer` (its detector finds the faces). Never raises for
    bad pictures: every failure is a `PagePortrait` with a `reason`.
    """
    t0 = time.perf_counter()

    def fail(reason: str, faces: int = 0) -> PagePortrait:
        return PagePortrait(None, reason, time.perf_counter() - t0, faces=faces)

    page = _as_bgr(page_bgr)
    if page is None:
        return fail("page.unusable")
    try:
        outcome = mrz_reader.read_mrz_array(page, today, attempts=MRZ_ATTEMPTS)
    except (OcrUnavailable, subprocess.SubprocessError, OSError, cv2.error):
        return fail("page.ocr_unavailable")
    if outcome.problem is not None:
        return fail("page.no_mrz")
    read = outcome.result
    if not same_document(doc, read.document_number, read.birth_date):
        # only a page whose own check digits vouch for its read is said to be another document
        verified = read.checks.get("document_number") and read.checks.get("birth_date")
        return fail("page.other_document" if verified else "page.mrz_unreadable")
    try:
        faces = detect_faces(analyzer, page)
    except cv2.error:
        return fail("page.no_face")
    face = choose_face(faces, outcome.band_box)   # the band the OCR just found, not searched for again
    if face is None:
        return fail("page.no_face")
    crop = level(crop_portrait(page, face.box))
    return PagePortrait(crop, None, time.perf_counter() - t0, tuple(float(v) for v in face.box), len(faces))
