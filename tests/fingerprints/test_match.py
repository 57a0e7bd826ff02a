"""Minutiae templates (ISO/IEC 19794-2:2011) and Bozorth3 1:1 verification."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.biometrics.finger import match
from edge.cli import root
from tests.fingerprints.conftest import REAL

SHARED = Path(__file__).resolve().parents[3] / "shared"
DEV = SHARED / "data" / "fingerprints-real"
ACCEPTANCE = SHARED / "acceptance" / "fingerprints-real"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import finger as bench  # noqa: E402


@pytest.fixture(scope="module")
def templates(real):
    return [match.template(img) for img in real]


def test_same_finger_matches_other_finger_does_not(templates):
    p1_1, p1_2, p2_1 = templates
    assert match.verify(p1_1, p1_2).match
    assert not match.verify(p1_1, p2_1).match
    assert not match.verify(p1_2, p2_1).match


def test_template_is_a_2011_record(templates):
    t = templates[0]
    assert t[:8] == b"FMR\x00030\x00" and int.from_bytes(t[8:12], "big") == len(t)


def test_truncated_or_foreign_templates_are_refused(templates):
    with pytest.raises(match.BadTemplate, match="length"):
        match.verify(templates[0][:-7], templates[1])
    with pytest.raises(match.BadTemplate, match="FMR"):
        match.verify(b"\xff\xd8\xff" + b"\x00" * 40, templates[1])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_a_template_or_bad_template(data: bytes):
    try:
        match.check_template(data)
    except match.BadTemplate:
        return
    assert data[:4] == b"FMR\x00"


def _pair_scores(folder: Path) -> tuple[list[int], list[int]]:
    import cv2

    prints = {p.stem: match.template(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)) for p in sorted(folder.glob("*.png"))}
    genuine, impostor = [], []
    for a, b in itertools.combinations(prints, 2):
        same = bench.finger_of(a) == bench.finger_of(b)
        (genuine if same else impostor).append(match.verify(prints[a], prints[b]).score)
    return genuine, impostor


def test_fingerjetfx_samples_are_one_finger_each():
    assert bench.finger_of("fjfx_a001_03p") != bench.finger_of("fjfx_a001_06p")
    assert bench.finger_of("fvc02db1_101_1") == bench.finger_of("fvc02db1_101_4") == "fvc02db1_101"


@pytest.mark.skipif(not DEV.is_dir(), reason="../shared/data/fingerprints-real is not beside this clone")
def test_no_false_match_among_development_impostors():
    genuine, impostor = _pair_scores(DEV)
    assert len(genuine) == 24 and len(impostor) == 327 and max(impostor) < match.THRESHOLD


@pytest.mark.slow
@pytest.mark.skipif(not ACCEPTANCE.is_dir(), reason="../shared/acceptance/fingerprints-real is not beside this clone")
def test_acceptance_genuine_pairs_accepted_and_no_false_match():
    genuine, impostor = _pair_scores(ACCEPTANCE)
    accepted = sum(s >= match.THRESHOLD for s in genuine) / len(genuine)
    assert accepted >= 0.80, f"accepts {accepted:.1%} of {len(genuine)} genuine pairs"
    assert max(impostor) < match.THRESHOLD, f"{sum(s >= match.THRESHOLD for s in impostor)} false matches"


def test_cli_verify_images_and_template_files(tmp_path: Path):
    r = CliRunner().invoke(root, ["finger", "verify", "--json", str(REAL[0]), str(REAL[1])])
    assert r.exit_code == 0 and json.loads(r.output)["match"] is True
    tpl = tmp_path / "p2.fmr"
    r = CliRunner().invoke(root, ["finger", "template", str(REAL[2]), "--out", str(tpl)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(root, ["finger", "verify", "--json", str(REAL[0]), str(tpl)])
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["match"] is False and out["threshold"] == match.THRESHOLD
    bad = tmp_path / "bad.fmr"
    bad.write_bytes(b"FMR\x00030\x00" + b"\x00" * 4)
    r = CliRunner().invoke(root, ["finger", "verify", str(bad), str(tpl)])
    assert r.exit_code == 2 and "Traceback" not in r.output
