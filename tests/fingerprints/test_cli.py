"""`borderpost finger quality` and `borderpost finger capture`: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from drivers.sim import finger_synth as synth
from edge.cli import root
from tests.conftest import write_config
from tests.fingerprints.conftest import REAL


def run(*args: str):
    return CliRunner().invoke(root, ["finger", *args], catch_exceptions=False)


def test_quality_json_for_good_prints():
    r = run("quality", "--json", *map(str, REAL))
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [o["image"] for o in out] == [str(p) for p in REAL]
    assert all(o["acceptable"] and 0 <= o["score"] <= 100 and o["feedback"] == [] for o in out)
    assert "components" not in out[0]


def test_quality_bad_print_exits_1_with_feedback(tmp_path: Path):
    p = tmp_path / "blank.png"
    cv2.imwrite(str(p), synth.blank())
    r = run("quality", "--json", "--components", str(p))
    assert r.exit_code == 1
    (o,) = json.loads(r.output)
    assert o["feedback"] == ["finger.place_finger"] and "native" in o
    r = run("quality", "--json", "--algorithm", "fast", "--components", str(p))
    (o,) = json.loads(r.output)
    assert r.exit_code == 1 and o["feedback"] == ["finger.place_finger"] and "components" in o


def test_quality_unreadable_file_exits_2(tmp_path: Path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    r = run("quality", "--json", str(REAL[0]), str(junk), str(tmp_path / "missing.png"))
    assert r.exit_code == 2
    out = json.loads(r.output)
    assert out[0]["acceptable"] and out[1]["error"] == "unreadable" and out[2]["error"] == "not-found"


def test_quality_text_output():
    r = run("quality", str(REAL[0]))
    assert r.exit_code == 0 and "acceptable" in r.output and "score" in r.output


@pytest.mark.parametrize("backend,extra", [("finger_uareu4000", ""), ("finger_r30x", 'port = "/dev/null-x"')])
def test_capture_from_simulated_device(tmp_path: Path, backend: str, extra: str):
    cfg = write_config(tmp_path, devices=f'[devices.fp]\nbackend = "{backend}"\nsimulated = true\n{extra}\n')
    out = tmp_path / "print.png"
    r = run("capture", "--config", str(cfg), "--device", "fp", "--out", str(out), "--timeout", "3")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["ok"] and summary["device"]["backend"] == backend and summary["out"] == str(out)
    img = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert img is not None and list(img.shape) == summary["image_shape"]


def test_capture_unknown_device_exits_2(tmp_path: Path):
    cfg = write_config(tmp_path)
    r = CliRunner().invoke(root, ["finger", "capture", "--config", str(cfg), "--device", "nope", "--out", "x.png"])
    assert r.exit_code == 2


def test_capture_absent_reader_exits_1(tmp_path: Path):
    cfg = write_config(tmp_path, devices='[devices.fp]\nbackend = "finger_r30x"\nport = "/nonexistent/tty"\n')
    r = run("capture", "--config", str(cfg), "--device", "fp", "--out", str(tmp_path / "p.png"),
            "--timeout", "0.3", "--retries", "0")
    assert r.exit_code == 1
    assert json.loads(r.output)["error"] == "disconnected"
