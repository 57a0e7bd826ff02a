"""Fixtures for the face tests: the verified models (skip off-CI only when absent) and photos from packages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edge.biometrics.face import models
from tests.fixtures import face_images


def _models_dir_or_skip() -> Path:
    d = models.models_dir()
    in_ci = os.environ.get("CI", "").lower() == "true"
    if not d.exists() and not in_ci:
        pytest.skip(f"face models directory {d} absent: run `python -m edge models fetch` "
                    f"(or set ${models.ENV_MODELS_DIR})")
    bad = {k: s.value for k, s in models.verify(d).items() if s is not models.ModelState.OK}
    if bad:
        pytest.fail(f"face models in {d} not usable: {bad}; run `python -m edge models fetch --dir {d}`")
    return d


@pytest.fixture(scope="session")
def models_path() -> Path:
    return _models_dir_or_skip()


@pytest.fixture(scope="session")
def analyzer(models_path: Path):
    from edge.biometrics.face import FaceAnalyzer, FaceConfig

    return FaceAnalyzer(FaceConfig(models_dir=models_path))


def load(name: str) -> np.ndarray:
    """A package photo by name ("a1".."a3": one person, "b1": another, "astronaut"): tests/fixtures/face_images."""
    return face_images.load(name)


def portrait(name: str) -> np.ndarray:
    """Head and shoulders of a package photo, what a kiosk camera frames ("a1", "a2", "astronaut")."""
    return face_images.portrait(name)


def photo(name: str) -> Path:
    return face_images.path(name)


def portrait_file(name: str) -> Path:
    return face_images.portrait_path(name)


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    """The 33-photo, 154-pair public set in ../shared/data/faces, read in place (skips when the clone has none)."""
    d = face_images.shared_faces()
    if d is None:
        pytest.skip(face_images.SKIP_NO_SHARED)
    return d


def on_canvas(face: np.ndarray, width: int = 640, height: int = 480, fill: float = 0.8) -> np.ndarray:
    """A fixture photo placed like a kiosk frame (face centred on a plain background)."""
    from drivers.sim.camera_sim import compose

    return compose(face, width, height, fill)


@pytest.fixture(scope="session")
def frame() -> np.ndarray:
    """A good kiosk-like frame: one frontal, sharp, evenly lit face."""
    return on_canvas(portrait("a1"))
