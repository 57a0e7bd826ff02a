"""Fingerprint test images: the public fixtures plus seeded synthetic prints and their degradations."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.sim import finger_synth as synth

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fingerprints"
REAL = sorted(FIXTURES.glob("p*.png"))


def real_prints() -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in REAL]


@pytest.fixture(scope="session")
def real() -> list[np.ndarray]:
    imgs = real_prints()
    assert len(imgs) == 3 and all(i is not None for i in imgs)
    return imgs


@pytest.fixture(scope="session")
def master() -> np.ndarray:
    return synth.master(7)
