"""tflite-runtime, the runtime older Pi images ship, loads and runs the packaged landmark model as LiteRT does.

It needs numpy<2, which the project's own environment cannot have (OpenCV 4.11+ needs numpy 2), so it runs
in a venv of its own with just numpy<2 and tflite-runtime 2.14.0 from the package registry, importing
borderpost's real loading code from this checkout; the same input goes through LiteRT here."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.biometrics.face import runtimes

ROOT = Path(__file__).resolve().parents[2]
RUN = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from edge.biometrics.face import runtimes
model = runtimes.load_tflite("tflite-runtime", sys.argv[2])
for i, out in enumerate(model.run(np.load(sys.argv[3]))):
    np.save(f"{sys.argv[4]}_{i}.npy", out)
print(runtimes.available()["tflite-runtime"])
"""

pytestmark = pytest.mark.skipif(sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64"
                                or sys.platform != "linux", reason="tflite-runtime 2.14.0 wheels: CPython 3.11")


@pytest.fixture(scope="module")
def tflite_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("tflite") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "numpy<2",
                          "tflite-runtime==2.14.0"], capture_output=True, text=True, timeout=600)
    if pip.returncode != 0:
        pytest.skip(f"tflite-runtime could not be installed from the package registry: {pip.stderr[-300:]}")
    return venv / "bin/python"


def test_tflite_runtime_gives_litert_s_landmarks(tflite_python: Path, models_path: Path, tmp_path: Path) -> None:
    model = models_path / "face_landmark.tflite"
    litert = runtimes.load_tflite("litert", str(model))
    tensor = np.random.default_rng(7).random(litert.input_shape, dtype=np.float32)
    np.save(tmp_path / "in.npy", tensor)
    out = subprocess.run([str(tflite_python), "-c", RUN, str(ROOT), str(model), str(tmp_path / "in.npy"),
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "None"          # doctor would call it usable there
    expected = litert.run(tensor)
    got = [np.load(tmp_path / f"out_{i}.npy") for i in range(len(expected))]
    assert [g.shape for g in got] == [e.shape for e in expected] == [(1, 1, 1, 1404), (1, 1, 1, 1)]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-3)


def test_under_numpy_2_it_says_why_instead_of_failing_later(models_path: Path) -> None:
    """In the project's own environment (numpy 2) the runtime is refused with the reason, before any call."""
    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip("this environment has numpy<2")
    reason = runtimes.available()["tflite-runtime"]
    assert reason is not None and ("numpy<2" in reason or "tflite" in reason)
