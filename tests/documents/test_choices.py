"""Check-digit steering over the OCR engine's per-character alternatives (pure; synthetic choices)."""

from __future__ import annotations

import datetime as dt

from edge.documents.choices import steer
from edge.documents.ocr import Choices

TODAY = dt.date(2026, 11, 29)
TRUTH = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]


def sure(lines: list[str]) -> list[list[Choices]]:
    return [[[(c, 95.0)] for c in ln] for ln in lines]


def test_engine_alternative_that_verifies_is_chosen_and_reported() -> None:
    lines = sure(TRUTH)
    lines[1][3] = [("9", 92.0), ("8", 90.0)]      # '8' misread as '9', the engine's runner-up is right
    lines[1][33] = [("Z", 91.0), ("2", 89.5)]     # personal number: "2" read as "Z"
    r = steer(lines, TODAY)
    assert r is not None and r.valid
    assert r.lines == tuple(TRUTH)
    assert any("alternatives" in c for c in r.corrections)


def test_no_verifying_alternative_gives_nothing() -> None:
    lines = sure(TRUTH)
    lines[1][3] = [("9", 92.0), ("7", 90.0)]      # neither candidate is the printed '8'
    assert steer(lines, TODAY) is None


def test_two_equally_good_readings_are_ambiguous() -> None:
    lines = sure(TRUTH)
    # both the first and the second character of the number are in doubt with equal confidence:
    # (9, 0) verifies as well as the printed (8, 9) at the same cost: the check digit cannot tell them apart
    lines[1][3] = [("9", 92.0), ("8", 92.0), ("3", 92.0)]
    lines[1][4] = [("9", 92.0), ("6", 92.0), ("2", 92.0), ("0", 92.0)]
    assert steer(lines, TODAY) is None


def test_alternatives_far_below_the_best_are_not_considered() -> None:
    lines = sure(TRUTH)
    lines[1][3] = [("9", 95.0), ("8", 60.0)]
    assert steer(lines, TODAY) is None


def test_wrong_shapes_are_left_alone() -> None:
    assert steer([], TODAY) is None
    assert steer(sure([TRUTH[0], TRUTH[1][:40]]), TODAY) is None
