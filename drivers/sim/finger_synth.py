"""Synthetic fingerprints (SFinGe-style) and the degradations a real sensor produces.

Why: tests, simulators and benchmarks need many prints of known character, and no real person's print
may be committed. A master print grows from noise by repeated oriented Gabor filtering along an
orientation field with a core and a delta (Sherlock–Monro), which yields ridge endings and bifurcations
like a real finger. Degradations (blur, noise, dry, wet, low contrast, partial) make the bad captures
the quality score and its feedback must recognise. Everything is seeded and deterministic.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

N_ORIENT = 12
RIDGE_PERIOD = 9.0          # pixels between ridges at ~500 ppi


def orientation_field(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Ridge orientation (radians, 0..pi) with one core and one delta, as in a loop pattern."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    core = (w * rng.uniform(0.4, 0.6), h * rng.uniform(0.35, 0.5))
    delta = (w * rng.uniform(0.2, 0.8), h * rng.uniform(0.75, 0.95))
    theta = 0.5 * (np.arctan2(yy - core[1], xx - core[0]) - np.arctan2(yy - delta[1], xx - delta[0]))
    theta += rng.uniform(-0.3, 0.3)
    return np.mod(theta + np.pi / 2, np.pi)


@lru_cache(maxsize=4)
def _gabor_bank(period: float) -> tuple[np.ndarray, ...]:
    ks = int(period * 2) | 1
    return tuple(
        cv2.getGaborKernel((ks, ks), sigma=period * 0.45, theta=np.pi * i / N_ORIENT + np.pi / 2,
                           lambd=period, gamma=1.0, psi=0).astype(np.float32)
        for i in range(N_ORIENT)
    )


def _footprint(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A soft elliptical fingertip mask (1 inside)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.45, 0.55), h * rng.uniform(0.45, 0.55)
    rx, ry = w * rng.uniform(0.38, 0.46), h * rng.uniform(0.42, 0.5)
    d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    return np.clip((1.15 - d) / 0.15, 0, 1).astype(np.float32)


def master(seed: int, shape: tuple[int, int] = (400, 320), iterations: int = 7) -> np.ndarray:
    """A clean synthetic print, uint8, dark ridges on a light background."""
    rng = np.random.default_rng(seed)
    h, w = shape
    theta = orientation_field(h, w, rng)
    idx = np.round(theta / np.pi * N_ORIENT).astype(np.int64) % N_ORIENT
    period = RIDGE_PERIOD * rng.uniform(0.9, 1.1)
    bank = _gabor_bank(round(period, 1))
    img = rng.standard_normal((h, w)).astype(np.float32)
    for _ in range(iterations):
        out = np.zeros_like(img)
        for i, k in enumerate(bank):
            sel = idx == i
            if sel.any():
                out[sel] = cv2.filter2D(img, -1, k)[sel]
        img = np.clip(out / (np.std(out) + 1e-6), -1.0, 1.0)
    mask = _footprint(h, w, rng)
    ridges = 0.5 + 0.5 * img  # 1 = valley (light), 0 = ridge (dark)
    gray = 255.0 - mask * (1.0 - ridges) * rng.uniform(170, 210)
    gray += rng.normal(0, 3, gray.shape)
    return np.clip(gray, 0, 255).astype(np.uint8)


# ---- degradations -------------------------------------------------------------------------------

def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def noise(img: np.ndarray, sd: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float32) + rng.normal(0, sd, img.shape), 0, 255).astype(np.uint8)


def low_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Compress the grey range towards white, as a finger pressed too lightly gives."""
    f = img.astype(np.float32)
    return np.clip(255 - (255 - f) * factor, 0, 255).astype(np.uint8)


def dry(img: np.ndarray, amount: float, seed: int = 0) -> np.ndarray:
    """Broken ridges: random light blotches across the print."""
    rng = np.random.default_rng(seed)
    h, w = img.shape
    m = cv2.resize(rng.random((h // 6 + 1, w // 6 + 1)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    breaks = m < amount
    out = img.copy()
    out[breaks] = np.maximum(out[breaks], 215)
    return out


def wet(img: np.ndarray, amount: int) -> np.ndarray:
    """Ridges merge into dark smudges (erosion of the light valleys)."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (amount, amount))
    return cv2.erode(img, k)


def smudge(img: np.ndarray, length: int = 21) -> np.ndarray:
    """Motion smear across the ridges: the finger slid while the frame was taken."""
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0 / length
    return cv2.filter2D(img, -1, k)


def partial(img: np.ndarray, keep: float) -> np.ndarray:
    """Only a top strip of the finger touched the glass."""
    out = np.full_like(img, 255)
    rows = max(1, int(img.shape[0] * keep))
    out[:rows] = img[:rows]
    return out


def blank(shape: tuple[int, int] = (400, 320), level: int = 255) -> np.ndarray:
    return np.full(shape, level, np.uint8)


def degraded_set(seed: int, shape: tuple[int, int] = (400, 320)) -> list[tuple[str, np.ndarray]]:
    """A master and its graded degradations: (label, image) pairs for calibration and benches."""
    m = master(seed, shape)
    return [
        ("clean", m),
        ("blur1.5", blur(m, 1.5)),
        ("blur3", blur(m, 3.0)),
        ("noise30", noise(m, 30, seed)),
        ("noise70", noise(m, 70, seed)),
        ("light0.4", low_contrast(m, 0.4)),
        ("light0.15", low_contrast(m, 0.15)),
        ("dry0.3", dry(m, 0.3, seed)),
        ("dry0.6", dry(m, 0.6, seed)),
        ("wet5", wet(m, 5)),
        ("smudge", smudge(m)),
        ("partial0.4", partial(m, 0.4)),
        ("partial0.2", partial(m, 0.2)),
    ]
