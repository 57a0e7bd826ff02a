"""Undo the perspective of a band seen at an angle (a TD1 card tilted away from the camera) before cutting cells.

A card is flat, so its MRZ on a photograph is its printed grid seen through one homography: every line's
cells are equally spaced on the card, the lines are parallel, and cell k of every line sits above cell k of
the next. Each line's cell centres (`cells._fit_grid`, quadratic along the line) and its vertical middle
(ink centroids of the cells, fitted along the line) give points whose places on the card are known
(column k, line i); the least-squares homography between the two maps the band back to the card's grid.
A per-line fit alone cannot undo the shear and the along-the-line change of glyph height that a keystone
view gives (`0` then reads as `O`, `M` as `8`), and the recogniser was trained on upright, even cells.
Pure numpy/OpenCV; the band is returned unchanged when it is not visibly warped or cannot be measured.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.documents import cells

MIN_SHIFT = 0.1      # pitches: a correction moving no text corner further than this is not worth a resample
MAX_SHIFT = 3.0      # pitches: one larger than this is a misfit, not a card at an angle
SAMPLES = 7          # cells per line used as correspondences


def _line_middle(ink: np.ndarray, a: int, b: int, grid: np.ndarray, pitch: float) -> np.ndarray | None:
    """The line's vertical middle at each of its cells (fitted straight along the line); None if unclear."""
    h, w = ink.shape
    pad = (b - a) // 2
    y0, y1 = max(0, a - pad), min(h, b + pad)
    strip = ink[y0:y1]
    ys = np.arange(y0, y1, dtype=np.float64)
    # ink mass and its row moment per column, summed over each cell's columns by cumulative sums
    mass = np.concatenate([[0.0], np.cumsum(strip.sum(axis=0, dtype=np.float64))])
    moment = np.concatenate([[0.0], np.cumsum(ys @ strip.astype(np.float64))])
    x0 = np.clip(np.rint(grid - 0.45 * pitch).astype(int), 0, w)
    x1 = np.clip(np.rint(grid + 0.45 * pitch).astype(int), 0, w)
    m = mass[x1] - mass[x0]
    ok = (x1 > x0) & (m > 0.5)
    if ok.sum() < len(grid) // 2:
        return None
    ks = np.flatnonzero(ok)
    mids = (moment[x1] - moment[x0])[ok] / m[ok]
    fit = np.polyfit(ks, mids, 1)
    keep = np.abs(np.polyval(fit, ks) - mids) < 0.25 * (b - a) + 1      # glyphs heavy at top or foot
    if keep.sum() >= len(grid) // 2:
        fit = np.polyfit(ks[keep], mids[keep], 1)
    return np.polyval(fit, np.arange(len(grid)))


def fit(g: cells.Grid) -> tuple[np.ndarray, float, float] | None:
    """(3x3 band-to-card homography, pitch in px, how far it moves a cell centre in pitches) from a measured
    band, or None when its lines' middles cannot be found."""
    n = g.length
    middles = []
    for (a, b), grid in zip(g.rows, g.grids, strict=True):
        mid = _line_middle(g.ink, a, b, grid, float(np.median(np.diff(grid))))
        if mid is None:
            return None
        middles.append(mid)
    pitch = float(np.mean([(grid[-1] - grid[0]) / (n - 1) for grid in g.grids]))
    x0 = float(np.mean([grid[0] for grid in g.grids]))
    centre = (n - 1) // 2
    ys = [float(m[centre]) for m in middles]
    ks = np.unique(np.linspace(0, n - 1, SAMPLES).round().astype(int))
    src = np.float32([(grid[k], m[k]) for grid, m in zip(g.grids, middles, strict=True) for k in ks])
    dst = np.float32([(x0 + k * pitch, y) for y in ys for k in ks])
    h, _ = cv2.findHomography(src, dst, cv2.RANSAC, 0.3 * pitch)    # a line whose grid misfit is outvoted
    if h is None or not np.isfinite(h).all():
        return None
    shift = float(np.abs(cv2.perspectiveTransform(src[:, None, :], h)[:, 0, :] - src).max()) / pitch
    return h, pitch, shift


def homography(gray: np.ndarray, n_lines: int) -> tuple[np.ndarray, float, float] | None:
    """`fit` of the band as measured by `cells.measure`, or None when it cannot be measured."""
    g = cells.measure(gray, n_lines)
    return fit(g) if g is not None else None


def straight_cells(gray: np.ndarray, n_lines: int) -> tuple[np.ndarray, cells.Cells | None]:
    """(the band on the card's grid, or `gray` itself when it is not visibly warped; its cells or None).

    The band is measured once when it is straight (most pages): the same measurement gives the cells.
    """
    g = cells.measure(gray, n_lines)
    if g is None:
        return gray, None
    found = fit(g)
    if found is None or not MIN_SHIFT <= found[2] <= MAX_SHIFT:
        return gray, cells.crop_cells(g)
    h = found[0]
    out = _warp(gray, h)
    g = cells.measure(out, n_lines)
    # Once nearly straight, the grid fits better (a strongly keystoned line can pass for an even one):
    # measure again and compose, so the band is resampled once.
    again = fit(g) if g is not None else None
    if again is not None and MIN_SHIFT <= again[2] <= MAX_SHIFT:
        out = _warp(gray, again[0] @ h)
        g = cells.measure(out, n_lines)
    return out, (cells.crop_cells(g) if g is not None else None)


def rectify(gray: np.ndarray, n_lines: int) -> np.ndarray:
    """The band resampled onto the card's own grid when it is seen at an angle; otherwise `gray` itself."""
    return straight_cells(gray, n_lines)[0]


def _warp(gray: np.ndarray, h: np.ndarray) -> np.ndarray:
    rows, cols = gray.shape
    return cv2.warpPerspective(gray, h, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
