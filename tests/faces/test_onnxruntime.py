"""SFace on ONNX Runtime (the default): the embeddings OpenCV DNN gives, from the same verified model file."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edge.biometrics.face import FaceAnalyzer, FaceConfig, runtime_onnxruntime, runtimes
from tests.faces.conftest import load


@pytest.fixture(scope="module")
def both(models_path):
    return (FaceAnalyzer(FaceConfig(models_dir=models_path, onnx_runtime="onnxruntime")),
            FaceAnalyzer(FaceConfig(models_dir=models_path, onnx_runtime="opencv")))


def test_onnxruntime_is_the_default_and_available():
    assert FaceConfig().onnx_runtime == "onnxruntime"
    assert runtimes.available()["onnxruntime"] is None


@pytest.mark.parametrize("name", ["a1", "a2", "b1", "astronaut"])
def test_the_same_embedding_as_opencv_dnn(both, name):
    ort, cv = both
    (a, _), (b, _) = ort.embedding(load(name)), cv.embedding(load(name))
    assert a is not None and b is not None
    assert float(np.dot(a, b)) > 0.99999


def test_the_same_verdicts_as_opencv_dnn(both):
    ort, cv = both
    for live, doc in [("a1", "a2"), ("a1", "b1")]:
        r_ort, r_cv = ort.verify(load(live), load(doc)), cv.verify(load(live), load(doc))
        assert r_ort.match == r_cv.match and abs(r_ort.score - r_cv.score) < 1e-4


def test_a_crop_of_the_wrong_shape_is_refused(both):
    with pytest.raises(ValueError, match="112x112"):
        both[0].embedder.recogniser.feature(np.zeros((100, 112, 3), np.uint8))


def test_onnxruntime_missing_is_reported_not_raised(monkeypatch, models_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert "pip install onnxruntime" in (runtimes.available()["onnxruntime"] or "")
    with pytest.raises(runtimes.RuntimeUnavailable, match="onnxruntime"):
        FaceAnalyzer(FaceConfig(models_dir=models_path, onnx_runtime="onnxruntime"))


def test_a_file_that_is_no_model_is_refused(tmp_path):
    bad = tmp_path / "sface.onnx"
    bad.write_bytes(b"\x08\x07not a model")
    with pytest.raises(runtimes.RuntimeUnavailable, match="cannot load"):
        runtime_onnxruntime.Recogniser(str(bad))
