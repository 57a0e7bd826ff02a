"""The fast live-frame score orders prints like NIST NFIQ 2 and agrees on accept/reject.

On the afis package's prints and a synthetic one under graded conditions, none of them fitted on (the afis
p1 pair is two of the acceptance prints, so the fit leaves the package's prints out); the full set, the real
prints and the timing live in bench/finger.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from drivers.sim import finger_synth as synth
from edge.biometrics.finger import assess, model

pytestmark = pytest.mark.slow  # NFIQ 2 takes ~0.4 s per print
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import finger as bench  # noqa: E402

CONDITIONS = ("clean", "blur2.5", "blur4", "noise60", "light0.12", "wet5", "wet7", "partial0.5", "partial0.15",
              "dry0.5")


@pytest.fixture(scope="module")
def scored(real):
    images = [img for k, m in enumerate([*real, synth.master(101)])
              for label, img in bench.degradations(m, k) if label in CONDITIONS]
    ours = np.array([assess(i).score for i in images])
    theirs = np.array([bench.nfiq2_score(i) for i in images])
    return ours, theirs


def test_rank_correlation_with_nfiq2(scored):
    ours, theirs = scored
    assert bench.spearman(ours, theirs) >= 0.90   # 0.93 at the shipped fit (borderpost-fq/4)


def test_accept_reject_agreement_with_nfiq2(scored):
    ours, theirs = scored
    agree = ((ours >= 35) == (theirs >= 35)).mean()
    assert agree >= 0.90   # held out: 37 of these 40 at the shipped fit; the frame it picks is judged by NFIQ 2


def test_good_real_prints_score_near_nfiq2(real):
    """The afis prints (NFIQ 2: 68, 70, 63) score within 8 points; borderpost-fq/3 gave p1_1 about 35."""
    for img in real:
        assert abs(assess(img).score - bench.nfiq2_score(img)) <= 8


def test_the_model_says_what_it_was_fitted_on():
    d = model.describe()
    assert model.version().startswith("borderpost-fq/") and d["labels"].startswith("nfiq2")
    assert d["heldout_rho_real"] >= 0.9 and d["prints"] > 500 and d["inputs"].startswith("NFIQ 2 native")
