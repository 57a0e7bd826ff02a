"""Cut a located MRZ band into its character cells, one per printed character.

OCR-B in an MRZ is printed at a fixed pitch (2.54 mm) with every position filled (`<` is printed
too), so a line of n characters is n equal cells: find the text lines by their ink rows, the glyph
columns by their ink columns, and fit centre = a + b·k (+ c·k², for a card seen at an angle) to the
glyph runs. The cells then go to the recogniser (`edge.documents.ocrb`) normalised to one size, so
training (scripts/train_ocrb.py) and reading cut them the same way. Pure numpy/OpenCV.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

CELL_W, CELL_H = 16, 24          # the recogniser's input: every cell is resized to this
LENGTHS = {3: (30,), 2: (36, 44)}  # characters per line, by number of lines
ON_GRID = 0.8    # share of glyph runs that must sit within a quarter pitch of their cell's centre


@dataclass(frozen=True)
class Cells:
    """The band's cells, line by line, as one array (lines·length, CELL_H, CELL_W) of float32 ink 0-1."""

    pixels: np.ndarray
    lines: int
    length: int


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Ink as float32 0-1 (1 = darkest print): background (paper, glare, uneven light) removed by a closing."""
    h = gray.shape[0]
    k = max(15, (h // 4) | 1)
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    ink = cv2.subtract(background, gray).astype(np.float32)
    top = float(np.percentile(ink, 99.5)) if ink.size else 0.0
    return np.clip(ink / max(top, 8.0), 0, 1)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D mask."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _line_rows(ink: np.ndarray, n: int) -> list[tuple[int, int]] | None:
    """Row ranges of the n text lines: the n heaviest runs of inked rows, top to bottom.

    The threshold rises until the lines separate (blur and shading fill the gaps between them).
    """
    prof = np.convolve(ink.sum(axis=1), np.ones(3) / 3, mode="same")
    lo, hi = float(np.percentile(prof, 5)), float(prof.max())
    if hi - lo <= 1e-3:
        return None
    for frac in (0.25, 0.4, 0.55):
        runs = [r for r in _runs(prof > lo + frac * (hi - lo)) if r[1] - r[0] >= 3]
        if len(runs) < n:
            continue
        typical = sorted(b - a for a, b in runs)[-n]
        merged: list[tuple[int, int]] = []
        for a, b in runs:   # a thin gap inside one line (a broken stroke) does not split it
            if merged and a - merged[-1][1] < 0.25 * typical and b - merged[-1][0] < 1.4 * typical:
                merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        best = sorted(merged, key=lambda r: -float(prof[r[0]:r[1]].sum()))[:n]
        if len(best) == n:
            return sorted(best)
    return None


def _rule_columns(ink: np.ndarray, rows: list[tuple[int, int]]) -> np.ndarray | None:
    """Columns of vertical rules (a card's outline, a frame line beside the MRZ), or None: they run through
    the gaps between the text lines, where no glyph reaches, and would otherwise pass for a first or last glyph."""
    if len(rows) < 2:
        return None
    gap = np.zeros(ink.shape[0], bool)
    for (_, b), (a, _) in itertools.pairwise(rows):
        margin = max(1, (a - b) // 5)
        gap[b + margin:a - margin] = True
    if gap.sum() < 2:
        return None
    rule = ink[gap].mean(axis=0) > 0.3
    if not rule.any():
        return None
    return np.convolve(rule, np.ones(5), mode="same") > 0      # and the rule's soft edges


def _erase_rules(ink: np.ndarray, rows: list[tuple[int, int]]) -> np.ndarray:
    rule = _rule_columns(ink, rows)
    if rule is None:
        return ink
    out = ink.copy()
    out[:, rule] = 0
    return out


def without_rules(gray: np.ndarray, n_lines: int) -> np.ndarray:
    """The band (uint8) with vertical rules painted over in the paper's shade, for tesseract's reading too."""
    if gray.ndim != 2 or min(gray.shape) < 8 or n_lines not in LENGTHS:
        return gray
    ink = ink_map(gray)
    rows = _line_rows(ink, n_lines)
    rule = _rule_columns(ink, rows) if rows is not None else None
    if rule is None:
        return gray
    out = gray.copy()
    out[:, rule] = np.uint8(np.percentile(gray, 90))
    return out


def _glyph_centres(col: np.ndarray) -> list[tuple[float, float, float]]:
    """(centre, start, end) of the ink column runs of one line, without specks (runs with little ink)."""
    col = np.convolve(col, np.ones(3) / 3, mode="same")
    lo, hi = float(np.percentile(col, 5)), float(np.percentile(col, 98))
    if hi - lo <= 1e-3:
        return []
    runs = [r for r in _runs(col > lo + 0.22 * (hi - lo)) if r[1] - r[0] >= 2]
    if not runs:
        return []
    mass = np.array([float((col[a:b] - lo).sum()) for a, b in runs])
    typical = float(np.median(mass))
    return [((a + b - 1) / 2, float(a), float(b)) for (a, b), m in zip(runs, mass, strict=True) if m >= 0.15 * typical]


def _fit_grid(centres: list[tuple[float, float, float]], n: int, track: bool = True) -> np.ndarray | None:
    """Cell centres (n,) fitted to the glyph runs; None when the runs do not fit n cells.

    The pitch comes from the text's extent (first glyph's left edge to last glyph's right edge is
    about n - 0.3 pitches: every position is printed, `<` included), refined by robust refits of
    centre = a + b·k (+ c·k² for a card seen at an angle) to the run centres. A grid that most runs
    do not sit on (a warped or misjudged line) is refused rather than read shifted; with `track`, a
    line whose pitch changes along it is then tried cell by cell (`_tracked_grid`).
    """
    if len(centres) < n // 3:
        return None
    xs = np.array([c for c, _, _ in centres])
    left, right = min(a for _, a, _ in centres), max(b for _, _, b in centres)
    pitch = (right - left) / (n - 0.3)
    if pitch <= 2:
        return None
    grid = _refit(xs, left + pitch * (np.arange(n) + 0.35), pitch)
    if grid is not None and _on_grid(xs, grid):
        return grid
    return _tracked_grid(centres, n, pitch) if track else None


def _refit(xs: np.ndarray, grid: np.ndarray, pitch: float) -> np.ndarray | None:
    n = len(grid)
    for degree in (1, 1, 2, 2):
        k = np.rint((xs - grid[0]) / pitch).astype(int)
        near = (k >= 0) & (k < n)
        k, x = k[near], xs[near]
        keep = np.abs(x - grid[k]) < 0.3 * pitch
        if keep.sum() < max(4, n // 2) or np.ptp(k[keep]) < n // 2:
            return None
        deg = degree if keep.sum() > 3 * n // 5 else 1
        grid = np.polyval(np.polyfit(k[keep], x[keep], deg), np.arange(n))
        pitch = float(np.median(np.diff(grid)))
        if pitch <= 2:
            return None
    return grid


def _on_grid(xs: np.ndarray, grid: np.ndarray) -> bool:
    """Whether enough runs sit within a quarter of the local pitch of their nearest cell centre."""
    step = np.diff(grid)
    local = np.concatenate([step[:1], (step[1:] + step[:-1]) / 2, step[-1:]])
    k = np.abs(xs[:, None] - grid[None, :]).argmin(axis=1)
    return float((np.abs(xs - grid[k]) < 0.25 * local[k]).mean()) >= ON_GRID


def _tracked_grid(centres: list[tuple[float, float, float]], n: int, pitch: float) -> np.ndarray | None:
    """For a pitch that changes along the line (a card at an angle): cells tracked left to right with a
    slowly adapting pitch (runs whose centres are closer than 0.6 pitch and that together fit in one cell
    are one split glyph), then a quadratic fit."""
    glyphs: list[list[float]] = []
    for _, a, b in sorted(centres):
        if glyphs and (a + b) / 2 - (glyphs[-1][0] + glyphs[-1][1]) / 2 < 0.6 * pitch \
                and max(glyphs[-1][1], b) - glyphs[-1][0] <= 1.05 * pitch:
            glyphs[-1][1] = max(glyphs[-1][1], b)
        else:
            glyphs.append([a, b])
    xs = np.array([(a + b - 1) / 2 for a, b in glyphs])
    if len(xs) == n:   # one blob per position (every position is printed): they are the cells, in order
        grid = np.polyval(np.polyfit(np.arange(n), xs, 2), np.arange(n))
        d = np.diff(grid)
        if d.min() >= 0.6 * pitch and d.max() <= 1.6 * pitch and _on_grid(xs, grid):
            return grid
    ks, hits = [0], [float(xs[0])]
    pos, step = float(xs[0]), pitch
    for k in range(1, n):
        want = pos + step
        j = int(np.abs(xs - want).argmin())
        if abs(xs[j] - want) < 0.35 * step:
            if ks[-1] == k - 1:
                step = 0.7 * step + 0.3 * (xs[j] - hits[-1])
            pos = float(xs[j])
            ks.append(k)
            hits.append(pos)
        else:
            pos = want
    if len(ks) < 3 * n // 4:
        return None
    grid = np.polyval(np.polyfit(ks, hits, 2), np.arange(n))
    d = np.diff(grid)
    if d.min() < 0.6 * pitch or d.max() > 1.6 * pitch:
        return None
    return grid if _on_grid(xs, grid) else None


def line_length(centres: list[tuple[float, float, float]], n_lines: int) -> int:
    """Characters per line: 30 for three lines; for two, 36 or 44, by span over the median glyph spacing."""
    options = LENGTHS.get(n_lines, (44,))
    if len(options) == 1 or len(centres) < 3:
        return options[-1]
    xs = np.sort(np.array([c for c, _, _ in centres]))
    gaps = np.diff(xs)
    step = float(np.median(gaps[gaps < 1.6 * np.median(gaps)])) if len(gaps) else 1.0
    est = (xs[-1] - xs[0]) / max(step, 1e-3) + 1
    return min(options, key=lambda L: abs(L - est))


@dataclass(frozen=True)
class Grid:
    """Where a band's cells are: its ink (rules erased), the text lines' rows and each line's cell centres."""

    ink: np.ndarray
    rows: list[tuple[int, int]]
    grids: list[np.ndarray]
    length: int


def measure(gray: np.ndarray, n_lines: int, length: int | None = None, track: bool = True) -> Grid | None:
    """The band's lines and cell centres (None when its lines or grid cannot be found); see `cut_cells`."""
    if gray.ndim != 2 or min(gray.shape) < 8 or n_lines not in LENGTHS:
        return None
    ink = ink_map(gray)
    rows = _line_rows(ink, n_lines)
    if rows is None:
        return None
    ink = _erase_rules(ink, rows)
    per_line = [_glyph_centres(ink[a:b].sum(axis=0)) for a, b in rows]
    if length is None:
        votes = [line_length(c, n_lines) for c in per_line if c]
        if not votes:
            return None
        length = max(set(votes), key=votes.count)
    grids = []
    for centres in per_line:
        grid = _fit_grid(centres, length, track)
        if grid is None:
            return None
        grids.append(grid)
    return Grid(ink, rows, grids, length)


def crop_cells(g: Grid) -> Cells:
    """The measured band's cells, each resized to CELL_W x CELL_H."""
    h = float(np.median([b - a for a, b in g.rows]))
    out = np.zeros((len(g.rows) * g.length, CELL_H, CELL_W), np.float32)
    for li, ((a, b), grid) in enumerate(zip(g.rows, g.grids, strict=True)):
        pitch = float(np.median(np.diff(grid)))
        mid = (a + b) / 2
        half_h = max(h, 0.9 * pitch) * 0.72
        y0, y1 = round(mid - half_h), round(mid + half_h)
        for k, cx in enumerate(grid):
            x0, x1 = round(cx - 0.55 * pitch), round(cx + 0.55 * pitch)
            out[li * g.length + k] = _crop(g.ink, x0, y0, x1, y1)
    return Cells(out, len(g.rows), g.length)


def cut_cells(gray: np.ndarray, n_lines: int, length: int | None = None, track: bool = True) -> Cells | None:
    """The band's character cells (None when its lines or grid cannot be found).

    `gray` is a deskewed band crop (uint8); `length` forces the characters per line (training knows it);
    `track=False` refuses lines whose pitch changes along them (training keeps only sure labels).
    """
    g = measure(gray, n_lines, length, track)
    return crop_cells(g) if g is not None else None


def _crop(ink: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """ink[y0:y1, x0:x1] (zero outside the image) resized to CELL_W x CELL_H."""
    h, w = ink.shape
    patch = np.zeros((max(1, y1 - y0), max(1, x1 - x0)), np.float32)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if sx1 > sx0 and sy1 > sy0:
        patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = ink[sy0:sy1, sx0:sx1]
    return cv2.resize(patch, (CELL_W, CELL_H), interpolation=cv2.INTER_AREA)
