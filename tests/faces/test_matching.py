"""1:1 verification on the shared pairs (acceptance) and the calibration arithmetic."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.biometrics.face import FaceError
from edge.biometrics.face import calibration as cal
from edge.biometrics.face.matching import DEFAULT_THRESHOLD
from tests.faces.conftest import load, on_canvas, portrait


@pytest.fixture(scope="module")
def embeddings(analyzer, shared_faces):
    out = {}
    for p in sorted(shared_faces.glob("person*.jpg")):
        emb, _ = analyzer.embedding(cv2.imread(str(p)))
        assert emb is not None, p.name
        out[p.name] = emb
    return out


def test_threshold_separates_every_shared_pair(embeddings, shared_faces):
    """Acceptance: all 77 genuine pairs match and all 77 impostor pairs do not at the shipped threshold."""
    pairs = cal.read_pairs(shared_faces / "pairs.csv")
    assert sum(p.genuine for p in pairs) == 77 and sum(not p.genuine for p in pairs) == 77
    wrong = [(p, float(embeddings[p.a] @ embeddings[p.b])) for p in pairs
             if (float(embeddings[p.a] @ embeddings[p.b]) >= DEFAULT_THRESHOLD) != p.genuine]
    assert wrong == []


def test_all_pairs_calibration_reproduces_the_threshold(embeddings):
    names = sorted(embeddings)
    gen, imp = [], []
    for p in cal.all_pairs(names):
        (gen if p.genuine else imp).append(float(embeddings[p.a] @ embeddings[p.b]))
    rep = cal.calibrate(gen, imp, 0.001)
    assert rep.genuine == 77 and rep.impostor == 451
    assert rep.threshold == pytest.approx(DEFAULT_THRESHOLD, abs=0.02)
    assert rep.fmr == 0.0 and rep.fnmr == 0.0


def test_verify_match_and_no_match(analyzer):
    live = on_canvas(portrait("a1"))
    same = analyzer.verify(live, load("a2"))
    other = analyzer.verify(live, load("b1"))
    assert same.error is None and same.match and same.score >= same.threshold
    assert other.error is None and not other.match
    assert same.quality_live.acceptable
    d = same.to_dict()
    assert set(d) >= {"score", "threshold", "match", "quality_live", "quality_portrait"}


def test_verify_no_face_is_an_error_value(analyzer):
    res = analyzer.verify(np.zeros((480, 640, 3), np.uint8), load("a2"))
    assert res.error is FaceError.NO_FACE and res.which == "live" and not res.match and res.score is None
    res = analyzer.verify(load("a2"), np.full((200, 150, 3), 255, np.uint8))
    assert res.error is FaceError.NO_FACE and res.which == "portrait"


def test_two_faces_in_the_live_frame(analyzer):
    two = np.hstack([on_canvas(portrait("a1"), 320, 480, 0.6),
                     on_canvas(portrait("astronaut"), 320, 480, 0.6)])
    res = analyzer.verify(two, load("a2"))
    assert res.error is FaceError.MULTIPLE_FACES and res.which == "live"
    # a portrait with two faces: the largest is compared (a data page's ghost image is smaller)
    res = analyzer.verify(load("a2"), two)
    assert res.error is None


def test_small_document_portrait_still_matches(analyzer):
    """A data-page photo is small: ~35x45 mm scanned at 300 dpi is ~413x531, often less."""
    import cv2

    small = cv2.resize(portrait("a2"), (120, 160), interpolation=cv2.INTER_AREA)
    res = analyzer.verify(on_canvas(portrait("a1")), small)
    assert res.error is None and res.match


# -- calibration arithmetic -----------------------------------------------------------------------------


def test_rates():
    fmr, fnmr = cal.fmr_fnmr([0.9, 0.8, 0.3], [0.1, 0.5], 0.4)
    assert fmr == 0.5 and fnmr == pytest.approx(1 / 3)


def test_eer_of_overlapping_sets():
    eer, t = cal.equal_error_rate([0.4, 0.6, 0.8, 0.9], [0.1, 0.2, 0.5, 0.7])
    assert eer == pytest.approx(0.25)
    fmr, fnmr = cal.fmr_fnmr([0.4, 0.6, 0.8, 0.9], [0.1, 0.2, 0.5, 0.7], t)
    assert fmr == fnmr == 0.25


def test_separated_sets_have_zero_eer():
    eer, t = cal.equal_error_rate([0.7, 0.8], [0.1, 0.3])
    assert eer == 0.0 and 0.3 < t < 0.7


def test_rule_of_three():
    assert cal.upper_bound_95(0, 300) == pytest.approx(0.01)
    assert cal.upper_bound_95(0, 0) == 1.0


@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=200),
       st.sampled_from([0.01, 0.001, 0.0001]))
def test_threshold_never_below_the_worst_impostor(impostor, fmr):
    t = cal.threshold_for_fmr(impostor, fmr)
    assert t >= max(impostor) - 1e-9
    assert math.isclose(t * 100, round(t * 100), abs_tol=1e-6)


def test_all_pairs_identity_from_prefix():
    pairs = cal.all_pairs(["person01_a.jpg", "person01_b.jpg", "person02_a.jpg"])
    assert [(p.a, p.b, p.genuine) for p in pairs] == [
        ("person01_a.jpg", "person01_b.jpg", True), ("person01_a.jpg", "person02_a.jpg", False),
        ("person01_b.jpg", "person02_a.jpg", False)]
