"""The fast fingerprint score (`borderpost-fq`): judges live frames during capture, predicting NIST NFIQ 2.

Why not NFIQ 2 itself on every frame: it takes about 0.4 s a print here (`nfiq2` runs once, on the
frame kept). The score reads NFIQ 2's own native measures, re-derived in `measures` (the block histograms
equal NFIQ 2's values; the minutiae measures use this module's minutiae, from `features`, in place of
FingerJetFX's), and maps them to 0-100 with boosted trees (`model`) fitted to NFIQ 2 on real development
prints, their degradations and capture variations; `python bench/finger.py --fit --write-model` refits it.
The feedback reads the simpler features of `features`; NFIQ 2's actionable checks keep NFIQ 2's thresholds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from edge.biometrics.finger import features as ft
from edge.biometrics.finger import measures as nm
from edge.biometrics.finger import model
from edge.biometrics.finger.feedback import ordered

# NFIQ 2 actionable-feedback thresholds (NFIQ 2 defaults)
EMPTY_MEAN = 250.0            # EmptyImageOrContrastTooLow: mean grey above this
UNIFORM_STD = 1.0             # UniformImage: grey standard deviation below this
MIN_MINUTIAE = 5              # FingerprintImageWithMinutiae
MIN_FOREGROUND_PX = 50_000    # SufficientFingerprintForeground (pixels at 500 ppi)

DEFAULT_THRESHOLD = 35.0      # score at or above which a print is acceptable
MAX_OFFSET = 0.2              # foreground centroid this far (share of the image) from the centre: off-centre
MAX_ANISOTROPY = 0.55         # above: ridges survive in one direction only (smear)
MIN_SIDE, MAX_SIDE = 96, 2000


class InvalidImage(ValueError):
    """The array cannot be a fingerprint image: wrong type, depth, shape or size. `.reason` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FingerQuality:
    score: float                       # 0-100, NFIQ 2 scale
    acceptable: bool
    feedback: tuple[str, ...]          # message keys, most important first
    components: dict[str, float] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["feedback"] = list(self.feedback)
        d["components"] = {k: round(float(v), 4) for k, v in self.components.items()}
        d["score"] = round(float(self.score), 1)
        d["algorithm"] = model.version()   # borderpost-fq/<n>: a prediction of NFIQ 2, never NFIQ 2 itself
        return d


def to_gray(image: np.ndarray) -> np.ndarray:
    """A 2-D uint8 image, or InvalidImage. Accepts grey, BGR and BGRA uint8 arrays (alpha over white)."""
    if not isinstance(image, np.ndarray):
        raise InvalidImage("not-an-array", f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidImage("wrong-depth", f"expected 8-bit grey levels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        a = image[:, :, 3:4].astype(np.float32) / 255.0
        bgr = image[:, :, :3].astype(np.float32) * a + 255.0 * (1 - a)
        image = cv2.cvtColor(bgr.astype(np.uint8), cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim != 2:
        raise InvalidImage("wrong-shape", f"expected HxW or HxWx(1|3|4), got shape {image.shape}")
    h, w = image.shape
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise InvalidImage("wrong-size", f"{w}x{h}: each side must be {MIN_SIDE}..{MAX_SIDE} pixels at 500 ppi")
    return np.ascontiguousarray(image)


def components(gray: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """Every feature the score and the feedback use: NFIQ 2's native measures under NFIQ 2's names, and the
    feedback's own (grey levels, foreground, anisotropy, OCL/LCS, ridge share, minutiae)."""
    f = gray.astype(np.float32)
    mu, sigma = float(f.mean()), float(f.std())
    fg = ft.foreground(gray)
    fg_px = int(fg.sum())
    c: dict[str, float] = {"mu": mu, "sigma": sigma, "foreground_px": float(fg_px),
                           "foreground_share": fg_px / gray.size}
    if fg_px:
        ys, xs = np.nonzero(fg)
        c["fg_offset"] = float(np.hypot(xs.mean() / gray.shape[1] - 0.5, ys.mean() / gray.shape[0] - 0.5))
        c["fg_mean"] = float(f[fg].mean())
        c["fg_std"] = float(f[fg].std())
    else:
        c.update(fg_offset=0.5, fg_mean=mu, fg_std=sigma)
    c["anisotropy"] = ft.anisotropy(gray, fg)
    blocks, _theta, along = ft.block_features(gray, fg, spectral=False)
    n = len(blocks.ocl)
    c["blocks"] = float(n)
    for name, vals in (("ocl", blocks.ocl), ("lcs", blocks.lcs)):
        c[f"{name}_mean"] = float(vals.mean()) if n else 0.0
        c[f"{name}_low"] = float((vals < 0.5).mean()) if n else 1.0
    r = blocks.ridge_ratio
    c["ridge_ratio"] = float(r.mean()) if n else 0.5
    c["rvu_std"] = float(np.log(np.clip(r, 0.05, 0.95) / np.clip(1 - r, 0.05, 0.95)).std()) if n else 0.0
    mins = ft.minutiae(along, fg) if n else np.zeros((0, 3))
    c["minutiae"] = float(len(mins))
    c.update(nm.native(gray))
    c.update(nm.minutiae_measures(gray, mins[:, :2]))
    return c, mins


def model_score(c: dict[str, float]) -> float:
    """NFIQ 2-scale score from the components: the boosted trees fitted to NFIQ 2 in `model`."""
    return model.predict(c)


def assess(image: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> FingerQuality:
    """Score one fingerprint image (500 ppi, dark ridges on light). Raises InvalidImage for unusable arrays."""
    gray = to_gray(image)
    c, _ = components(gray)
    keys: set[str] = set()
    if c["mu"] > EMPTY_MEAN:
        keys.add("finger.place_finger")
    elif c["sigma"] < UNIFORM_STD:
        keys.add("finger.clean_sensor")
    if keys:
        return FingerQuality(0.0, False, ordered(keys), c, threshold)
    score = float(np.clip(model_score(c), 0.0, 100.0))
    # a smear also shrinks the foreground (smeared ridges lose contrast), but stays centred
    smear = c["anisotropy"] > MAX_ANISOTROPY and c["fg_offset"] <= MAX_OFFSET
    small = c["foreground_px"] < MIN_FOREGROUND_PX * min(1.0, gray.size / 120_000)
    if c["fg_offset"] > MAX_OFFSET or (small and not smear):
        keys.add("finger.centre_finger")
    if c["minutiae"] < MIN_MINUTIAE:
        keys.add("finger.press_flat")
    if smear:
        keys.add("finger.hold_still")
    acceptable = score >= threshold and not keys
    if not acceptable:
        keys |= _advice(c)
        if len(keys) > 1:
            keys.discard("finger.try_again")
    return FingerQuality(score, acceptable, ordered(keys), c, threshold)


def _advice(c: dict[str, float]) -> set[str]:
    """What to change, from the features that are out of line (at least one key)."""
    keys: set[str] = set()
    contrast = c["fg_std"]
    if contrast < 25 or c["fg_mean"] > 215:
        keys.add("finger.press_firmer")
    if c["fg_mean"] < 110:
        keys.add("finger.press_lighter")
    if c["ridge_ratio"] > 0.62:
        keys.add("finger.wipe_finger")
    elif c["lcs_mean"] < 0.55 and c["ocl_mean"] > 0.4:
        keys.add("finger.dry_finger")
    if c["ocl_mean"] < 0.35 and contrast >= 25:
        keys.add("finger.hold_still")
    return keys or {"finger.try_again"}
