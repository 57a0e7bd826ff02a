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
    ys = np.arange(y0, y1, dtype=np.float32)
    mids, ks = [], []
    for k, cx in enumerate(grid):
        x0, x1 = max(0, round(cx - 0.45 * pitch)), min(w, round(cx + 0.45 * pitch))
        if x1 <= x0:
            continue
        rows = ink[y0:y1, x0:x1].sum(axis=1)
        mass = float(rows.sum())
        if mass > 0.5:
            mids.append(float((rows * ys).sum() / mass))
            ks.append(k)
    if len(ks) < len(grid) // 2:
        return None
    ks_a, mids_a = np.array(ks), np.array(mids)
    fit = np.polyfit(ks_a, mids_a, 1)
    keep = np.abs(np.polyval(fit, ks_a) - mids_a) < 0.25 * (b - a) + 1      # glyphs heavy at top or foot
    if keep.sum() >= len(grid) // 2:
        fit = np.polyfit(ks_a[keep], mids_a[keep], 1)
    return np.polyval(fit, np.arange(len(grid)))


def homography(gray: np.ndarray, n_lines: int) -> tuple[np.ndarray, float, float] | None:
    """(3x3 band-to-card homography, pitch in px, how far it moves a cell centre in pitches) from the band's
    cell grid, or None when it cannot be measured."""
    if gray.ndim != 2 or min(gray.shape) < 8 or n_lines not in cells.LENGTHS:
        return None
    ink = cells.ink_map(gray)
    rows = cells._line_rows(ink, n_lines)
    if rows is None:
        return None
    ink = cells._erase_rules(ink, rows)
    per_line = [cells._glyph_centres(ink[a:b].sum(axis=0)) for a, b in rows]
    votes = [cells.line_length(c, n_lines) for c in per_line if c]
    if not votes:
        return None
    n = max(set(votes), key=votes.count)
    grids, middles = [], []
    for (a, b), centres in zip(rows, per_line, strict=True):
        grid = cells._fit_grid(centres, n, track=True)
        if grid is None:
            return None
        mid = _line_middle(ink, a, b, grid, float(np.median(np.diff(grid))))
        if mid is None:
            return None
        grids.append(grid)
        middles.append(mid)
    pitch = float(np.mean([(g[-1] - g[0]) / (n - 1) for g in grids]))
    x0 = float(np.mean([g[0] for g in grids]))
    centre = (n - 1) // 2
    ys = [float(m[centre]) for m in middles]
    ks = np.unique(np.linspace(0, n - 1, SAMPLES).round().astype(int))
    src = np.float32([(g[k], m[k]) for g, m in zip(grids, middles, strict=True) for k in ks])
    dst = np.float32([(x0 + k * pitch, y) for y in ys for k in ks])
    h, _ = cv2.findHomography(src, dst, cv2.RANSAC, 0.3 * pitch)    # a line whose grid misfit is outvoted
    if h is None or not np.isfinite(h).all():
        return None
    shift = float(np.abs(cv2.perspectiveTransform(src[:, None, :], h)[:, 0, :] - src).max()) / pitch
    return h, pitch, shift


def rectify(gray: np.ndarray, n_lines: int) -> np.ndarray:
    """The band resampled onto the card's own grid when it is seen at an angle; otherwise `gray` itself."""
    found = homography(gray, n_lines)
    if found is None:
        return gray
    h, _, shift = found
    if not MIN_SHIFT <= shift <= MAX_SHIFT:
        return gray
    out = _warp(gray, h)
    # Once nearly straight, the grid fits better (a strongly keystoned line can pass for an even one):
    # measure again and compose, so the band is resampled once.
    again = homography(out, n_lines)
    if again is not None and MIN_SHIFT <= again[2] <= MAX_SHIFT:
        out = _warp(gray, again[0] @ h)
    return out


def _warp(gray: np.ndarray, h: np.ndarray) -> np.ndarray:
    rows, cols = gray.shape
    return cv2.warpPerspective(gray, h, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
