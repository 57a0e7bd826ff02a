"""A data page whose surname has one genuinely ambiguous letter (tests of the "officer confirms" path)."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import cv2

from edge.documents.pages import make_page
from edge.documents.synth import make_mrz


def ambiguous_name_page(path: Path) -> None:
    """Two renderings of one passport blended half and half, surname MARTIN and HARTIN: the M/H cell is
    ambiguous (names have no check digit), every checked field is clean."""
    lines = make_mrz("TD3", rng=random.Random(5), surname="MARTIN", given_names="ANNA", expiry_date=date(2034, 6, 30))
    other = [lines[0].replace("MARTIN", "HARTIN", 1), lines[1]]
    a = make_page(random.Random(3), fmt="TD3", distortion="clean", lines=lines).image
    b = make_page(random.Random(3), fmt="TD3", distortion="clean", lines=other).image
    cv2.imwrite(str(path), cv2.addWeighted(a, 0.5, b, 0.5, 0), [cv2.IMWRITE_JPEG_QUALITY, 92])
