"""The image features NFIQ 2 bases its score on, computed blockwise with numpy/OpenCV (runs on aarch64).

Why these: NFIQ 2 (NIST IR 8382) predicts matcher utility from orientation certainty (OCL), local
clarity (LCS), frequency-domain analysis (FDA), ridge–valley uniformity (RVU), the minutiae in the
foreground, and grey-level statistics. NIST's own build has no package for the Pi's processor, so
each feature is re-derived here from its published definition, vectorised over 32×32 blocks (0.06 mm
at 500 ppi, NFIQ 2's block size) so the whole assessment stays a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BLOCK = 32                   # NFIQ 2's block size at 500 ppi
FG_BLOCK = 16                # finer grid for the foreground mask
FG_STD = 12.0                # a block with less grey-level spread than this is background
N_DIR = 12                   # quantised ridge directions for oriented smoothing


@dataclass(frozen=True)
class Blocks:
    """Per-block values over the foreground blocks of one image."""

    ocl: np.ndarray
    fda: np.ndarray
    lcs: np.ndarray
    ridge_ratio: np.ndarray   # ridge (dark) fraction per block, for ridge–valley uniformity
    hf: np.ndarray            # share of spectral energy above the ridge band (noise, grit)


def _crop(img: np.ndarray, b: int) -> np.ndarray:
    h, w = img.shape
    return img[: h - h % b, : w - w % b]


def _blockview(img: np.ndarray, b: int) -> np.ndarray:
    """(rows, cols, b, b) view of an image cropped to whole blocks."""
    c = _crop(img, b)
    h, w = c.shape
    return c.reshape(h // b, b, w // b, b).swapaxes(1, 2)


def foreground(img: np.ndarray) -> np.ndarray:
    """Boolean mask (same shape) of blocks where the finger touched: grey-level spread above FG_STD."""
    f = img.astype(np.float32)
    v = _blockview(f, FG_BLOCK)
    std = v.std(axis=(2, 3))
    dark = v.mean(axis=(2, 3)) < 250
    blocks = ((std > FG_STD) & dark).astype(np.uint8)
    blocks = cv2.morphologyEx(blocks, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    blocks = cv2.morphologyEx(blocks, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    mask = np.zeros(img.shape, bool)
    up = np.kron(blocks, np.ones((FG_BLOCK, FG_BLOCK), np.uint8)).astype(bool)
    mask[: up.shape[0], : up.shape[1]] = up
    return mask


def orientation(img: np.ndarray, b: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Per-block ridge orientation (radians, 0..pi) and OCL (orientation certainty, 0..1).

    OCL is 1 - λmin/λmax of the block's gradient covariance: parallel ridges give one dominant
    eigenvector (near 1), noise or a smudge gives none (near 0).
    """
    f = img.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    a = _blockview(gx * gx, b).mean(axis=(2, 3))
    c = _blockview(gy * gy, b).mean(axis=(2, 3))
    d = _blockview(gx * gy, b).mean(axis=(2, 3))
    root = np.sqrt((a - c) ** 2 + 4 * d * d)
    lmax, lmin = (a + c + root) / 2, (a + c - root) / 2
    ocl = np.where(lmax > 1e-6, 1.0 - lmin / np.maximum(lmax, 1e-6), 0.0)
    # gradient direction is across the ridges; the ridge runs perpendicular to it
    theta = np.mod(0.5 * np.arctan2(2 * d, a - c) + np.pi / 2, np.pi)
    return theta, ocl


def anisotropy(img: np.ndarray, fg: np.ndarray) -> float:
    """Coherence of the gradient tensor summed over the whole foreground (0..1).

    A whorl or loop has ridges in every direction (low); a print smeared by a moving finger keeps only
    the ridges parallel to the motion (high). This is what tells "hold still" from "too light".
    """
    if not fg.any():
        return 0.0
    f = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA).astype(np.float32)
    m = cv2.resize(fg.astype(np.uint8), (f.shape[1], f.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)[m]
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)[m]
    a, c, d = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    return float(np.sqrt((a - c) ** 2 + 4 * d * d) / (a + c + 1e-6))


def _line_kernels(length: int = 11) -> list[np.ndarray]:
    ks = []
    for i in range(N_DIR):
        t = np.pi * i / N_DIR
        k = np.zeros((length, length), np.float32)
        c = length // 2
        for s in np.linspace(-c, c, 4 * length):
            k[round(float(c + s * np.sin(t))), round(float(c + s * np.cos(t)))] = 1.0
        ks.append(k / k.sum())
    return ks


_LINES = _line_kernels()


def smooth_along_ridges(img: np.ndarray, theta_blocks: np.ndarray, b: int = BLOCK) -> np.ndarray:
    """Average each pixel along its block's ridge direction (keeps ridges, removes breaks and noise)."""
    f = img.astype(np.float32)
    idx = np.round(theta_blocks / np.pi * N_DIR).astype(np.int64) % N_DIR
    nr, nc = idx.shape
    hh, ww = nr * b, nc * b
    res = np.empty((nr, nc, b, b), np.float32)
    for i in np.unique(idx):
        sel = idx == i
        res[sel] = cv2.filter2D(f, -1, _LINES[i])[:hh, :ww].reshape(nr, b, nc, b).swapaxes(1, 2)[sel]
    out = f.copy()
    out[:hh, :ww] = res.swapaxes(1, 2).reshape(hh, ww)
    return out


def block_features(img: np.ndarray, fg: np.ndarray, spectral: bool = True) -> tuple[Blocks, np.ndarray, np.ndarray]:
    """OCL, FDA, LCS and ridge ratio of the foreground blocks; also the orientation and the smoothed image.

    `spectral=False` leaves FDA and the high-frequency share empty (the fast score reads NFIQ 2's own FDA from
    `measures`; these block spectra are the time of a few milliseconds)."""
    f = img.astype(np.float32)
    theta, ocl = orientation(f)
    along = smooth_along_ridges(f, theta)
    fgb = _blockview(fg.astype(np.float32), BLOCK).mean(axis=(2, 3)) > 0.75
    v = _blockview(f, BLOCK)
    blocks = v[fgb]
    if blocks.size == 0:
        empty = np.zeros(0, np.float32)
        return Blocks(empty, empty, empty, empty, empty), theta, along

    # LCS: the share of a block's grey variance that survives smoothing along the ridges
    va = _blockview(along, BLOCK)[fgb]
    var_img = blocks.var(axis=(1, 2)) + 1e-6
    resid = ((blocks - va) ** 2).mean(axis=(1, 2))
    lcs = np.clip(1.0 - resid / var_img, 0.0, 1.0)

    # ridge (dark) share of each block after binarising at the block mean
    ridge_ratio = (va < va.mean(axis=(1, 2), keepdims=True)).mean(axis=(1, 2))
    if not spectral:
        empty = np.zeros(0, np.float32)
        return Blocks(ocl[fgb], empty, lcs, ridge_ratio, empty), theta, along

    # FDA: how sharply one ridge frequency dominates the block's spectrum (ridge period 5..16 px)
    centred = blocks - blocks.mean(axis=(1, 2), keepdims=True)
    win = np.outer(np.hanning(BLOCK), np.hanning(BLOCK)).astype(np.float32)
    spec = np.abs(np.fft.fft2(centred * win)) ** 2
    fy = np.fft.fftfreq(BLOCK)[:, None]
    fx = np.fft.fftfreq(BLOCK)[None, :]
    rad = np.sqrt(fx**2 + fy**2)
    band = (rad >= 1 / 16) & (rad <= 1 / 5)
    total = spec.reshape(len(spec), -1).sum(axis=1) + 1e-6
    peak = np.zeros(len(spec), np.float32)
    pk = np.where(band, spec, 0).reshape(len(spec), -1).argmax(axis=1)
    py, px = np.unravel_index(pk, (BLOCK, BLOCK))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            peak += spec[np.arange(len(spec)), (py + dy) % BLOCK, (px + dx) % BLOCK]
    fda = 2 * peak / total  # the spectrum is symmetric: both lobes
    hf = np.where(rad > 1 / 4, spec, 0).reshape(len(spec), -1).sum(axis=1) / total
    return Blocks(ocl[fgb], np.clip(fda, 0, 1), lcs, ridge_ratio, hf), theta, along


def _zs_tables() -> tuple[np.ndarray, np.ndarray]:
    """Zhang–Suen deletion rules for both sub-iterations, as lookup tables over the 8-neighbour code."""
    tables = []
    for step in (0, 1):
        t = np.zeros(256, bool)
        for code in range(256):
            p = [(code >> i) & 1 for i in range(8)]          # p2, p3, ..., p9 clockwise from north
            b = sum(p)
            a = sum(1 for i in range(8) if p[i] == 0 and p[(i + 1) % 8] == 1)
            p2, _p3, p4, _p5, p6, _p7, p8, _p9 = p
            c1, c2 = (p2 * p4 * p6, p4 * p6 * p8) if step == 0 else (p2 * p4 * p8, p2 * p6 * p8)
            t[code] = 2 <= b <= 6 and a == 1 and c1 == 0 and c2 == 0
        tables.append(t.astype(np.uint8))
    return tables[0], tables[1]


_ZS = _zs_tables()
# crossing number of each neighbour code: 1 = ridge ending, 2 = ridge, 3 = bifurcation
_CROSSINGS = np.array([sum(((c >> i) & 1) != ((c >> ((i + 1) % 8)) & 1) for i in range(8)) // 2
                       for c in range(256)], np.uint8)


# neighbour weights, bit 0 = north, clockwise (correlation kernel for cv2.filter2D)
_CODE_KERNEL = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], np.float32)


def _neighbour_code(img: np.ndarray) -> np.ndarray:
    """8-bit code of each pixel's neighbours of a 0/1 uint8 image (outside the image counts as 0)."""
    return cv2.filter2D(img, cv2.CV_8U, _CODE_KERNEL, borderType=cv2.BORDER_CONSTANT)


def _thin(binary: np.ndarray, max_iter: int = 20) -> np.ndarray:
    """Zhang–Suen thinning, vectorised with lookup tables: one-pixel-wide ridge skeleton."""
    ys, xs = np.nonzero(binary)
    out = np.zeros(binary.shape, bool)
    if len(ys) == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1  # work on the ridges' bounding box only
    img = binary[y0:y1, x0:x1].astype(np.uint8)
    for _ in range(max_iter):
        changed = False
        for table in _ZS:
            rm = table[_neighbour_code(img)] & img
            if rm.any():
                img ^= rm
                changed = True
        if not changed:
            break
    out[y0:y1, x0:x1] = img.astype(bool)
    return out


def minutiae(along: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """Ridge endings and bifurcations (crossing number on the skeleton), inside the eroded foreground.

    Returns an (N, 3) array of (x, y, kind) with kind 1 = ending, 3 = bifurcation.
    """
    local = cv2.blur(along, (15, 15))
    ridges = (along < local - 1.0) & fg
    ridges = cv2.morphologyEx(ridges.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)
    sk = _thin(ridges).astype(np.uint8)
    cn = _CROSSINGS[_neighbour_code(sk)]
    # ridges also "end" where the image or the finger's outline cuts them: only count well inside both
    inner = cv2.erode(fg.astype(np.uint8), np.ones((25, 25), np.uint8), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0).astype(bool)
    cand = (sk == 1) & inner & ((cn == 1) | (cn == 3))
    ys, xs = np.nonzero(cand)
    pts = np.stack([xs, ys, cn[ys, xs]], axis=1) if len(xs) else np.zeros((0, 3), np.int64)
    return _drop_clusters(pts)


def _drop_clusters(pts: np.ndarray, radius: int = 8) -> np.ndarray:
    """Remove minutiae that come in tight clusters (spurs, breaks, noise), as extractors do."""
    if len(pts) < 2:
        return pts
    xy = pts[:, :2].astype(np.float32)
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(d, np.inf)
    return pts[d.min(axis=1) > radius]
