"""MRZ from a photograph or scan: the band located, cut into cells, read by the OCR-B recogniser and by tesseract.

1. `edge.documents.image.locate_band` finds, deskews and crops the band.
2. `edge.documents.rectify.straight_cells` maps a band seen at an angle back onto the card's grid and cuts
   it into one cell per character (fixed OCR-B pitch, `edge.documents.cells`).
3. The recogniser (`edge.documents.ocrb`) gives each cell's probabilities; tesseract's legacy engine
   reads the same band once (the second opinion), always: the recogniser alone is overconfident on a
   glyph that is genuinely ambiguous (a half-and-half M/H blend reads as H with p = 0.9986), and names
   have no check digit.
4. `edge.documents.opinions.combine` lets the check digits choose among the recogniser's candidates and
   lists the fields neither the check digits nor the two opinions settle (`uncertain_fields`).
When the band cannot be cut or no reading verifies, the tesseract-only reader (`image.read_mrz_array`:
several preprocessings, check-digit steering, fusion) reads it; the recogniser, when it has a reading,
still judges the fields that have no check digit.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from drivers import safe_image
from edge.documents import image as tess_reader
from edge.documents.cells import without_rules
from edge.documents.layout import Layout, layout_for
from edge.documents.mrz import MrzResult, parse_mrz
from edge.documents.ocr import Choices, OcrUnavailable, ocr_symbols
from edge.documents.ocrb import Model, ModelMissing, shipped_model
from edge.documents.opinions import _unchecked, combine
from edge.documents.rectify import straight_cells

ReadOutcome = tess_reader.ReadOutcome
TESS_PITCH = 30      # band pitch tesseract's legacy engine reads OCR-B best at (image._plans)


def _tesseract(band: np.ndarray, lay: Layout) -> list[Choices] | None:
    """Tesseract's choices per MRZ position, lines of the wrong length left as None positions."""
    f = TESS_PITCH / tess_reader.TARGET_PITCH_PX
    img = cv2.resize(band, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC) if abs(f - 1) > 0.02 else band
    img = cv2.addWeighted(img, 1.6, cv2.GaussianBlur(img, (0, 0), 2), -0.6, 0)
    symbols = ocr_symbols(img)
    if symbols is None:
        return None
    rows = [[c for c in ln if c and c[0][0] != " "] for ln in symbols]
    rows = [r for r in rows if len(r) >= 20][-lay.lines:]
    if len(rows) != lay.lines:
        return None
    out: list[Choices] = []
    for r in rows:
        out += r if len(r) == lay.length else [[] for _ in range(lay.length)]
    return out


def _model() -> Model | None:
    try:
        return shipped_model()
    except ModelMissing:
        return None


def read_mrz_array(image: np.ndarray, today=None, attempts: int | None = None) -> ReadOutcome:
    """Read the MRZ of a decoded image (BGR or grey). Never raises for bad pictures."""
    t0 = time.perf_counter()
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    band = tess_reader.locate_band(gray)
    if band is None:
        return ReadOutcome(parse_mrz("", today), time.perf_counter() - t0, 0, "no_mrz: no MRZ band found in the image")
    image, cells = straight_cells(without_rules(band.image, band.lines), band.lines)
    band = dataclasses.replace(band, image=image)
    model = _model()
    lay = probs = None
    if cells is not None and model is not None:
        probs = model.probabilities(cells.pixels)
        lay = layout_for(cells.lines, cells.length, model.classes[int(probs[0].argmax())])
    if lay is not None and probs is not None and model is not None:
        result = combine(lay, probs, model.classes, _tesseract(band.image, lay), today)
        if result.valid or result.uncertain_fields:
            return ReadOutcome(result, time.perf_counter() - t0, 1, band_box=band.box)
    fallback = tess_reader.read_mrz_array(gray, today, attempts)
    result = fallback.result
    if result.valid:
        result = _second_look(result, lay, probs, model)
    return ReadOutcome(result, time.perf_counter() - t0, 1 + fallback.attempts, fallback.problem, band.box)


def _second_look(result: MrzResult, lay: Layout | None, probs: np.ndarray | None, model: Model | None) -> MrzResult:
    """A tesseract-only valid read: fields without a check digit the recogniser reads otherwise are uncertain;
    with no recogniser reading at all, every such field is (one opinion is not enough for a clean pass)."""
    text = "".join(result.lines)
    fmt_lay = layout_for(len(result.lines), len(result.lines[0]), text[:1]) if result.lines else None
    if fmt_lay is None:
        return result
    uncertain: dict[str, tuple[str, ...]] = {}
    same_shape = lay is not None and probs is not None and model is not None and lay.total == fmt_lay.total
    top = "".join(model.classes[int(i)] for i in probs.argmax(axis=1)) if same_shape else None
    for name in _unchecked(fmt_lay):
        a, b = fmt_lay.fields[name]
        if top is None:
            uncertain[name] = ()
        elif top[a:b] != text[a:b]:
            uncertain[name] = (top[a:b].rstrip("<"),)
    if not uncertain:
        return result
    errors = (*result.errors, *(f"uncertain: {n} (officer confirms)" for n in uncertain))
    return dataclasses.replace(result, valid=False, errors=errors, uncertain_fields=uncertain)


def read_mrz_file(path: Path, today=None, attempts: int | None = None) -> ReadOutcome:
    """Read the MRZ of an image file; every failure is an outcome with a specific `problem`."""
    t0 = time.perf_counter()

    def fail(problem: str) -> ReadOutcome:
        return ReadOutcome(parse_mrz("", today), time.perf_counter() - t0, 0, problem)

    try:
        img = safe_image.read_file(path, gray=True, max_pixels=tess_reader.MAX_PIXELS,
                                   max_bytes=tess_reader.MAX_IMAGE_BYTES)
    except safe_image.ImageRejected as exc:
        return fail(f"image: {str(exc).removeprefix(path.name + ': ')}")
    try:
        out = read_mrz_array(img, today, attempts)
    except (OcrUnavailable, subprocess.SubprocessError, cv2.error) as exc:
        return fail(f"ocr: {type(exc).__name__}: {exc}")
    return dataclasses.replace(out, seconds=time.perf_counter() - t0)
