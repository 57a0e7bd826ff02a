"""Face settings: `[quality.face]` overrides, runtime choice, and what a missing runtime looks like."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from edge.biometrics.face import FaceConfig, runtimes
from edge.biometrics.face import quality as q
from edge.biometrics.face.matching import DEFAULT_THRESHOLD


def test_quality_table_overrides_thresholds_and_match_threshold():
    cfg = FaceConfig.from_quality_table({"sharpness": 80, "background_uniformity": 50, "match_threshold": 0.5})
    eff = cfg.effective_thresholds()
    assert eff["sharpness"] == 80 and eff["background_uniformity"] == 50 and eff["roll"] == 50
    assert cfg.match_threshold == 0.5
    assert FaceConfig().match_threshold == DEFAULT_THRESHOLD
    assert set(eff) == set(q.COMPONENTS)


def test_unknown_component_and_bad_values_are_rejected():
    with pytest.raises(ValidationError, match="unknown quality component"):
        FaceConfig.from_quality_table({"sharpnes": 50})
    with pytest.raises(ValidationError):
        FaceConfig.from_quality_table({"sharpness": 150})
    with pytest.raises(ValidationError):
        FaceConfig(tflite_runtime="tensorflow")  # type: ignore[arg-type]


def test_a_missing_runtime_is_reported_not_raised_at_import(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    avail = runtimes.available()
    assert avail["tflite-runtime"] is not None and "tflite" in avail["tflite-runtime"]
    with pytest.raises(runtimes.RuntimeUnavailable):
        runtimes.load_tflite("tflite-runtime", "/nonexistent.tflite")


def test_analyzer_with_missing_runtime_fails_clearly(models_path, monkeypatch):
    import sys

    from edge.biometrics.face import FaceAnalyzer

    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(runtimes.RuntimeUnavailable, match="tflite-runtime"):
        FaceAnalyzer(FaceConfig(models_dir=models_path, tflite_runtime="tflite-runtime"))


def test_cli_reads_quality_face_from_the_config(models_path, tmp_path):
    from pathlib import Path

    from edge.cli.face import cli
    from tests.faces.conftest import photo

    example = (Path(__file__).resolve().parents[2] / "examples" / "config.toml").read_text()
    conf = tmp_path / "config.toml"
    conf.write_text(example + "\n[quality.face]\nsharpness = 100\nmatch_threshold = 0.99\n")
    r = CliRunner().invoke(cli, ["verify", str(photo("a1")), str(photo("a2")),
                                 "--config", str(conf), "--models-dir", str(models_path), "--json"])
    assert r.exit_code == 1, r.output                     # same person, but the threshold is 0.99
    assert '"threshold": 0.99' in r.output
    assert '"threshold": 100' in r.output                 # sharpness demands 100
    conf.write_text(example + "\n[quality.face]\nsharpnes = 10\n")
    r = CliRunner().invoke(cli, ["quality", str(photo("a1")), "--config", str(conf),
                                 "--models-dir", str(models_path)])
    assert r.exit_code == 2 and "unknown quality component" in r.output
