"""Our score orders prints like NIST NFIQ 2 (nbis-py, x86_64 only) and agrees on accept/reject.

Acceptance check for issue 6 on a fixed subset (the full set and the timing live in bench/finger.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge.biometrics.finger import assess, synth

pytestmark = pytest.mark.slow  # NFIQ 2 takes ~0.1 s per print
nbis = pytest.importorskip("nbis", reason="nbis-py (NIST NFIQ 2) has an x86_64 wheel only")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import finger as bench  # noqa: E402

CONDITIONS = ("clean", "blur2.5", "blur4", "noise60", "light0.12", "wet5", "wet7", "partial0.5", "partial0.15",
              "dry0.5")


@pytest.fixture(scope="module")
def scored(real):
    nfiq2 = bench.nfiq2_scorer()
    images = [img for k, m in enumerate([*real, synth.master(101)])
              for label, img in bench.degradations(m, k) if label in CONDITIONS]
    ours = np.array([assess(i).score for i in images])
    theirs = np.array([nfiq2(i) for i in images])
    return ours, theirs


def test_rank_correlation_with_nfiq2(scored):
    ours, theirs = scored
    assert bench.spearman(ours, theirs) >= 0.85  # measured 0.957


def test_accept_reject_agreement_with_nfiq2(scored):
    ours, theirs = scored
    agree = ((ours >= 35) == (theirs >= 35)).mean()
    assert agree >= 0.85  # measured 0.90
