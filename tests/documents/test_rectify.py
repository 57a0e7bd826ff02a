"""A TD1 card seen at an angle: its band is mapped back onto the card's own grid before the cells are cut
(a keystone view shears the glyphs and changes their height along the line: 0 then read as O, M as 8)."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from edge.documents import image as tess_reader
from edge.documents.cells import cut_cells
from edge.documents.ocrb import shipped_model
from edge.documents.pages import render_page
from edge.documents.rectify import homography, rectify
from edge.documents.synth import make_mrz


def _band(seed: int) -> tuple[np.ndarray, list[str]]:
    rng = random.Random(seed)
    lines = make_mrz("TD1", rng=rng)
    page = cv2.cvtColor(render_page(lines, rng, "TD1"), cv2.COLOR_BGR2GRAY)
    return tess_reader.locate_band(page).image, lines


def _keystone(band: np.ndarray, top: float, left: float) -> np.ndarray:
    """The band as a camera sees a card tilted away from it: `top` narrows the top edge, `left` shortens
    the left edge (fractions of the width and height)."""
    band = cv2.copyMakeBorder(band, 20, 20, 40, 40, cv2.BORDER_REPLICATE)   # the card around the band
    h, w = band.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[top * w, left * h], [(1 - top) * w, 0], [w, h], [0, (1 - left) * h]])
    return cv2.warpPerspective(band, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)


def _read(band: np.ndarray) -> str | None:
    cells = cut_cells(band, 3, 30)
    if cells is None:
        return None
    model = shipped_model()
    return "".join(model.classes[i] for i in model.probabilities(cells.pixels).argmax(axis=1))


def test_a_straight_band_is_left_as_it_is() -> None:
    band, _ = _band(3)
    assert rectify(band, 3) is band
    assert homography(band, 3)[2] < 0.1


@pytest.mark.parametrize(("seed", "top", "left"), [(3, 0.05, 0.0), (4, 0.0, 0.12), (5, 0.04, 0.08), (7, 0.06, 0.06)])
def test_a_band_seen_at_an_angle_is_read_on_the_card_grid(seed: int, top: float, left: float) -> None:
    band, lines = _band(seed)
    warped = _keystone(band, top, left)
    before = homography(warped, 3)[2]
    assert before > 0.1          # measurably warped: cell centres up to `before` pitches off an even grid
    straight = rectify(warped, 3)
    assert straight is not warped
    assert homography(straight, 3)[2] < before / 3
    assert _read(straight) == "".join(lines)


def test_a_band_it_cannot_measure_is_returned_unchanged() -> None:
    blank = np.full((120, 900), 230, np.uint8)
    assert rectify(blank, 3) is blank
    assert rectify(blank, 4) is blank
