"""A vertical rule beside the MRZ (a card's printed outline, a frame line in a scan) is not a glyph: the band is
cut into the right cells and tesseract gets the band without it (the ICAO TD1 specimen's failure mode)."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from edge.documents import image as tess_reader
from edge.documents.cells import cut_cells, without_rules
from edge.documents.ocrb import shipped_model
from edge.documents.pages import render_page
from edge.documents.synth import make_mrz


def _band_with_rules(seed: int, fmt: str) -> tuple[np.ndarray, list[str]]:
    rng = random.Random(seed)
    lines = make_mrz(fmt, rng=rng)
    band = tess_reader.locate_band(cv2.cvtColor(render_page(lines, rng, fmt), cv2.COLOR_BGR2GRAY)).image
    pad = int(1.2 * band.shape[1] / len(lines[0]))      # the rule a little over one pitch from the text
    img = cv2.copyMakeBorder(band, 10, 10, pad, pad, cv2.BORDER_CONSTANT, value=255)
    h, w = img.shape
    cv2.line(img, (3, 0), (3, h), 40, 3)
    cv2.line(img, (w - 4, 0), (w - 4, h), 40, 3)
    return img, lines


@pytest.mark.parametrize(("seed", "fmt"), [(1, "TD3"), (3, "TD1"), (5, "TD2")])
def test_rules_beside_the_band_are_not_cells(seed: int, fmt: str) -> None:
    img, lines = _band_with_rules(seed, fmt)
    cells = cut_cells(img, len(lines))
    assert cells is not None and (cells.lines, cells.length) == (len(lines), len(lines[0]))
    model = shipped_model()
    top = "".join(model.classes[int(i)] for i in model.probabilities(cells.pixels).argmax(axis=1))
    assert top == "".join(lines)


def test_without_rules_paints_only_the_rules() -> None:
    img, lines = _band_with_rules(3, "TD1")
    clean = without_rules(img, len(lines))
    assert clean[:, :8].min() > 150 and clean[:, -8:].min() > 150        # the rules are gone
    assert np.array_equal(clean[:, 40:-40], img[:, 40:-40])              # the text is untouched
    plain = img[:, 12:-12]
    assert np.array_equal(without_rules(plain, len(lines)), plain)       # nothing to erase: the same pixels
