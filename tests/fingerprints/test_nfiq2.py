"""NIST NFIQ 2 through nbis-python: scores, feedback, resampling, and the glibc compatibility step."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from drivers.sim import finger_synth as synth
from edge.biometrics.finger import nbis_glibc, nfiq2
from edge.cli import root
from tests.fingerprints.conftest import REAL

ACCEPTANCE = Path(__file__).resolve().parents[3] / "shared" / "acceptance" / "fingerprints-real"


def run(*args: str):
    return CliRunner().invoke(root, ["finger", *args], catch_exceptions=False)


def test_compat_leaves_nothing_asking_for_glibc_2_38():
    """After `finger nbis-compat` (run at install) no nbis library asks for a symbol this libc lacks."""
    assert nbis_glibc.nbis_libraries(), "nbis-python is not installed"
    if nbis_glibc.glibc_version() < (2, 38):
        assert all(nbis_glibc.plan(p) == [] for p in nbis_glibc.nbis_libraries())
    assert nbis_glibc.make_loadable() == []       # a second run changes nothing
    import nbis  # noqa: F401


def test_compat_refuses_a_symbol_without_a_classic_twin(tmp_path: Path, monkeypatch):
    lib = next(p for p in nbis_glibc.nbis_libraries() if p.name.startswith("libopencv_core"))
    copy = tmp_path / lib.name
    copy.write_bytes(lib.read_bytes())
    monkeypatch.setattr(nbis_glibc, "plan", lambda _p: [(1, "strfromf128", 0)])
    with pytest.raises(nbis_glibc.CompatError, match="no classic twin"):
        nbis_glibc.patch_library(copy)
    assert copy.read_bytes() == lib.read_bytes()  # refused before anything was written


def test_afis_prints_score_as_nfiq2_does(real):
    scores = [nfiq2.assess(img).score for img in real]
    assert scores == [68.0, 70.0, 63.0]           # NIST NFIQ 2 2.x on the afis package's prints


def test_result_names_the_algorithm_and_carries_native_measures(real):
    q = nfiq2.assess(real[0]).to_dict()
    assert q["algorithm"] == "nfiq2" and q["version"] == nfiq2.version() != ""
    assert set(q["actionable"]) == set(nfiq2.ACTIONABLE)
    assert "FDA_Bin10_Mean" in q["native"] and q["minutiae"] > 5 and q["acceptable"]


def test_empty_and_uniform_images_get_nfiq2s_feedback():
    assert nfiq2.assess(synth.blank()).feedback == ("finger.place_finger",)
    uniform = nfiq2.assess(np.full((400, 400), 128, np.uint8))
    assert not uniform.acceptable and uniform.feedback[0] == "finger.clean_sensor"


def test_other_resolutions_are_resampled_to_500ppi(real):
    at_1000 = cv2.resize(real[0], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    assert nfiq2.at_500ppi(at_1000, 1000).shape == real[0].shape
    assert nfiq2.at_500ppi(real[0], 500) is real[0]
    assert abs(nfiq2.assess(at_1000, ppi=1000).score - nfiq2.assess(real[0]).score) <= 8
    assert nfiq2.assess(at_1000, ppi=500).score != nfiq2.assess(at_1000, ppi=1000).score


def test_cli_quality_defaults_to_nfiq2_and_fast_is_tagged_apart():
    r = run("quality", "--json", *map(str, REAL))
    assert r.exit_code == 0, r.output
    assert [o["score"] for o in json.loads(r.output)] == [68.0, 70.0, 63.0]
    r = run("quality", "--json", "--algorithm", "fast", str(REAL[0]))
    (o,) = json.loads(r.output)
    assert o.get("algorithm", "fast") != "nfiq2"


@pytest.mark.skipif(not ACCEPTANCE.is_dir(), reason="../shared/acceptance/fingerprints-real is not beside this clone")
def test_cli_agrees_with_nfiq2_on_every_acceptance_print():
    truth = [json.loads(line) for line in (ACCEPTANCE / "truth.jsonl").read_text().splitlines() if line.strip()]
    r = run("quality", "--json", *(str(ACCEPTANCE / t["file"]) for t in truth))
    assert r.exit_code in (0, 1), r.output
    got = [o["score"] for o in json.loads(r.output)]
    assert got == [float(t["nfiq2"]) for t in truth]
