"""The NFIQ 2-style features on patterns whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from edge.biometrics.finger import features as ft


def stripes(angle: float, period: float = 10.0, size: int = 256) -> np.ndarray:
    """Ridges running at `angle` (radians from the x axis), dark on light."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    across = -xx * np.sin(angle) + yy * np.cos(angle)
    return (127 + 100 * np.cos(2 * np.pi * across / period)).astype(np.uint8)


def noise(size: int = 256, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


@pytest.mark.parametrize("angle", [0.0, 0.5, 1.2, 2.0, 2.8])
def test_orientation_and_certainty_of_parallel_ridges(angle):
    theta, ocl = ft.orientation(stripes(angle))
    assert ocl.mean() > 0.9
    diff = np.abs(np.angle(np.exp(2j * (theta - angle)))) / 2  # distance modulo pi
    assert np.median(diff) < 0.1


def test_noise_has_no_orientation():
    _, ocl = ft.orientation(noise())
    assert ocl.mean() < 0.3


def test_clear_ridges_score_high_on_fda_and_clarity_noise_low():
    good, _, _ = ft.block_features(stripes(0.7), np.ones((256, 256), bool))
    bad, _, _ = ft.block_features(noise(), np.ones((256, 256), bool))
    assert good.fda.mean() > 0.5 > bad.fda.mean()
    assert good.lcs.mean() > 0.8 > bad.lcs.mean()
    assert good.hf.mean() < 0.05 < bad.hf.mean()
    assert abs(good.ridge_ratio.mean() - 0.5) < 0.1


def test_foreground_finds_the_ridged_part_only():
    img = np.full((256, 256), 255, np.uint8)
    img[:, :128] = stripes(0.3)[:, :128]
    fg = ft.foreground(img)
    assert fg[:, :112].mean() > 0.9 and fg[:, 144:].mean() < 0.05


def test_thinning_leaves_one_pixel_wide_lines():
    bar = np.zeros((60, 120), bool)
    bar[25:34, 10:110] = True
    sk = ft._thin(bar)
    cols = sk[:, 20:100]
    assert (cols.sum(axis=0) == 1).all()
    assert sk.sum() > 70


def test_a_cut_ridge_gives_two_endings():
    img = stripes(0.0, period=12, size=240).astype(np.float32)  # dark ridge centres at y = 6 + 12k
    assert img[126, 0] < 30
    cut = img.copy()
    cut[121:132, 100:140] = 227  # break the ridge at y = 126 between x = 100 and 140
    fg = np.ones(img.shape, bool)
    base = ft.minutiae(img, fg)
    broken = ft.minutiae(cut, fg)
    assert len(base) == 0
    endings = broken[broken[:, 2] == 1]
    assert len(endings) == 2
    assert set(np.round(endings[:, 0] / 10).astype(int)) <= {9, 10, 13, 14}


def test_anisotropy_separates_a_loop_from_one_direction():
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float64)
    rings = (127 + 100 * np.cos(2 * np.pi * np.hypot(xx - 128, yy - 128) / 10)).astype(np.uint8)
    fg = np.ones((256, 256), bool)
    assert ft.anisotropy(rings, fg) < 0.2
    assert ft.anisotropy(stripes(0.4), fg) > 0.8
    assert ft.anisotropy(rings, np.zeros_like(fg)) == 0.0
