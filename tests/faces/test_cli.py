"""`borderpost face quality|verify|calibrate`: exit codes and JSON, run as a subprocess like a technician would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.faces.conftest import on_canvas, photo, portrait, portrait_file

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, models: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "face", *args, "--models-dir", str(models)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("faces")
    good = on_canvas(portrait("a1"))
    out = {"good": d / "good.png", "black": d / "black.png", "dark": d / "dark.jpg",
           "truncated": d / "truncated.jpg", "alpha": d / "alpha.png"}
    cv2.imwrite(str(out["good"]), good)
    cv2.imwrite(str(out["black"]), np.zeros((480, 640, 3), np.uint8))
    cv2.imwrite(str(out["dark"]), (good * 0.12).astype(np.uint8))
    data = (photo("a1")).read_bytes()
    out["truncated"].write_bytes(data[: len(data) // 3])
    cv2.imwrite(str(out["alpha"]), cv2.cvtColor(good, cv2.COLOR_BGR2BGRA))
    return out


def test_quality_exit_codes(models_path, images):
    ok = run("quality", str(images["good"]), "--json", models=models_path)
    assert ok.returncode == 0, ok.stderr
    body = json.loads(ok.stdout)
    assert body["acceptable"] is True and "sharpness" in body["components"]
    dark = run("quality", str(images["dark"]), "--json", models=models_path)
    assert dark.returncode in (1, 2)
    assert "face.more_light" in json.loads(dark.stdout)["feedback"] or json.loads(dark.stdout)["error"]
    black = run("quality", str(images["black"]), models=models_path)
    assert black.returncode == 2 and "no-face" in black.stdout
    trunc = run("quality", str(images["truncated"]), "--json", models=models_path)
    assert trunc.returncode == 2 and json.loads(trunc.stdout)["error"] == "image-unreadable"
    assert "Traceback" not in trunc.stderr
    alpha = run("quality", str(images["alpha"]), "--json", models=models_path)
    assert alpha.returncode == 0


def test_verify_exit_codes(models_path, images):
    same = run("verify", str(images["good"]), str(photo("a2")), "--json", models=models_path)
    assert same.returncode == 0, same.stderr
    body = json.loads(same.stdout)
    assert body["match"] is True and body["score"] >= body["threshold"]
    other = run("verify", str(images["good"]), str(photo("b1")), models=models_path)
    assert other.returncode == 1 and "NO MATCH" in other.stdout
    missing = run("verify", str(images["black"]), str(photo("a2")), "--json",
                  models=models_path)
    assert missing.returncode == 2 and json.loads(missing.stdout)["which"] == "live"
    trunc = run("verify", str(images["good"]), str(images["truncated"]), "--json", models=models_path)
    assert trunc.returncode == 2 and json.loads(trunc.stdout)["error"] == "image-unreadable"


def test_missing_models_is_a_clear_error(tmp_path, images):
    r = run("quality", str(images["good"]), models=tmp_path)
    assert r.returncode == 2 and "models fetch" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_cli_separates_every_shared_pair(models_path, shared_faces):
    """Acceptance through the CLI: `face verify` on all 154 pairs (photos: `--largest-face`)."""
    from click.testing import CliRunner

    from edge.biometrics.face import calibration as cal
    from edge.cli.face import cli

    runner = CliRunner()
    wrong = []
    for p in cal.read_pairs(shared_faces / "pairs.csv"):
        r = runner.invoke(cli, ["verify", str(shared_faces / p.a), str(shared_faces / p.b), "--largest-face", "--json",
                                "--models-dir", str(models_path)])
        if r.exit_code != (0 if p.genuine else 1):
            wrong.append((p, r.exit_code, r.output[:200]))
    assert wrong == []


def test_calibrate_command(models_path, shared_faces):
    r = run("calibrate", str(shared_faces), "--pairs", str(shared_faces / "pairs.csv"), "--json", models=models_path)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["genuine"] == 77 and body["impostor"] == 77 and body["fnmr"] == 0.0


def test_capture_on_the_configured_camera(models_path, tmp_path):
    from click.testing import CliRunner

    from edge.cli.face import cli

    conf = tmp_path / "config.toml"
    conf.write_text(f"""
[identity]
post = "p1"
device = "k1"
[devices.camera]
backend = "camera_sim"
simulated = true
source = "{portrait_file('a1')}"
fps = 15
""")
    out = tmp_path / "best.png"
    r = CliRunner().invoke(cli, ["capture", "--config", str(conf), "--timeout", "5", "--out", str(out), "--json",
                                 "--models-dir", str(models_path)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert lines[-1]["result"]["ok"] is True and lines[0]["frame"] == 1
    assert out.stat().st_mode & 0o777 == 0o600
    assert cv2.imread(str(out)).shape == (480, 640, 3)


def test_capture_without_camera(models_path, tmp_path):
    from click.testing import CliRunner

    from edge.cli.face import cli

    conf = tmp_path / "config.toml"
    conf.write_text('[identity]\npost = "p1"\ndevice = "k1"\n')
    r = CliRunner().invoke(cli, ["capture", "--config", str(conf), "--models-dir", str(models_path)])
    assert r.exit_code == 2 and "no camera" in r.output
