"""NFIQ 2's own native quality measures, re-derived with numpy so the fast score can read them in milliseconds.

Why: NFIQ 2 is a random forest over these measures (ISO/IEC 29794-4, NIST NFIQ 2 source: FDA, LCS, OCL,
RVU, MMB/Mu). A fast score whose inputs follow NFIQ 2's definitions (the same 32-pixel blocks, the same
segmentation, orientation, rotated 32x16 slanted blocks, ridge-valley split and histogram bins) learns a
mapping that carries over to prints it never saw; generic image statistics do not. Each measure here is
checked against NFIQ 2's native value in `bench/finger.py --measures`.

Definitions followed (NFIQ 2 names in brackets):
- the image is first cropped of near-white rows and columns (mean grey above 250), as NFIQ 2 does;
- ridge segmentation: the image normalised to zero mean and unit variance, 32x32 blocks with a spread above
  0.1 are foreground; a measure block counts when all its pixels are foreground;
- orientation per block from centred-difference gradients, angle 0.5*atan2(c, a - b) as NFIQ 2 computes it;
- [OCL] 1 - lambda_min/lambda_max of the gradient covariance, every full 32x32 block;
- [FDA] the ridge signature along a 32x16 block rotated across the ridges, its DFT peak against the band;
- [LCS] the share of pixels on the right side of the ridge/valley split line, when widths are plausible;
- [RVU] the ratios of consecutive ridge and valley widths across the rotated block;
- [MMB] the mean of the 32x32 block means; [Mu] the mean grey.
"""

from __future__ import annotations

import cv2
import numpy as np

BLOCK = 32
SLANT_X, SLANT_Y = 32, 16
OFFSET = 2                    # ceil((ceil(hypot(32, 16)) - 32) / 2): the border a rotated 32x16 block needs
WINDOW = BLOCK + 2 * OFFSET   # 36: the block with its border
SEGMENT_THRESHOLD = 0.1
NEAR_WHITE = 250.0

# NFIQ 2's histogram bin limits (the tenth bin is everything above the last limit)
OCL_LIMITS = (0.337, 0.479, 0.579, 0.655, 0.716, 0.766, 0.81, 0.852, 0.898)
FDA_LIMITS = (0.268, 0.304, 0.33, 0.355, 0.38, 0.407, 0.44, 0.50, 1.0)
LCS_LIMITS = (0.0, 0.70, 0.74, 0.77, 0.79, 0.81, 0.83, 0.85, 0.87)
RVU_LIMITS = (0.5, 0.667, 0.8, 1.0, 1.25, 1.5, 2.0, 24.0, 30.0)


def near_white_frame(gray: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns (top, bottom, left, right; half-open) left after NFIQ 2 crops the near-white frame
    (edge rows and columns whose mean is above 250); the whole image when nothing is left."""
    rows = np.nonzero(gray.mean(axis=1) <= NEAR_WHITE)[0]
    cols = np.nonzero(gray.mean(axis=0) <= NEAR_WHITE)[0]
    if len(rows) == 0 or len(cols) == 0:
        return 0, gray.shape[0], 0, gray.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_near_white(gray: np.ndarray) -> np.ndarray:
    """The image without its near-white frame, as NFIQ 2 crops it before measuring."""
    top, bottom, left, right = near_white_frame(gray)
    return gray[top:bottom, left:right]


def _blocks(img: np.ndarray, b: int, off: int = 0) -> np.ndarray:
    """(n_rows, n_cols, b, b) view of the whole b-blocks starting at (off, off)."""
    h, w = img.shape
    nr, nc = (h - off) // b, (w - off) // b
    c = img[off: off + nr * b, off: off + nc * b]
    return c.reshape(nr, b, nc, b).swapaxes(1, 2)


def _padded_blocks(f: np.ndarray) -> np.ndarray:
    """(n_rows, n_cols, 32, 32) blocks from the corner, the partial ones at the edges filled with NaN."""
    h, w = f.shape
    nr, nc = -(-h // BLOCK), -(-w // BLOCK)
    pad = np.full((nr * BLOCK, nc * BLOCK), np.nan)
    pad[:h, :w] = f
    return pad.reshape(nr, BLOCK, nc, BLOCK).swapaxes(1, 2)


def _block_sums(a: np.ndarray) -> np.ndarray:
    """Sum of each 32x32 block from the corner (the partial blocks at the edges too)."""
    h, w = a.shape
    pad = np.zeros((-(-h // BLOCK) * BLOCK, -(-w // BLOCK) * BLOCK), np.float64)
    pad[:h, :w] = a
    return pad.reshape(pad.shape[0] // BLOCK, BLOCK, -1, BLOCK).sum(axis=(1, 3))


def segmentation(img: np.ndarray) -> np.ndarray:
    """Pixel mask of NFIQ 2's ridge segmentation: 32x32 blocks (edge blocks partial) with normalised spread > 0.1."""
    f = img.astype(np.float64)
    sd = f.std()
    if sd == 0:
        return np.zeros(img.shape, bool)
    n = _block_sums(np.ones_like(f))
    mean = _block_sums(f) / n
    spread = np.sqrt(np.maximum(_block_sums(f * f) / n - mean * mean, 0)) / sd
    return np.kron(spread > SEGMENT_THRESHOLD, np.ones((BLOCK, BLOCK), bool))[: f.shape[0], : f.shape[1]]


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of NFIQ 2's measure blocks: every 32 pixels from 2, leaving room for the border."""
    rows = np.arange(OFFSET, h - (BLOCK + OFFSET - 1), BLOCK)
    cols = np.arange(OFFSET, w - (BLOCK + OFFSET - 1), BLOCK)
    return rows, cols


def _covariance(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean gx^2, gy^2, gx*gy per block from centred differences inside each block (one-sided at its edges)."""
    gy, gx = np.gradient(blocks, axis=(-2, -1))
    return (gx * gx).mean(axis=(-2, -1)), (gy * gy).mean(axis=(-2, -1)), (gx * gy).mean(axis=(-2, -1))


def ocl_values(img: np.ndarray) -> np.ndarray:
    """OCL of every full 32x32 block from the image's corner; blocks without any gradient are left out."""
    v = _blocks(img.astype(np.float64), BLOCK).reshape(-1, BLOCK, BLOCK)
    a, b, c = _covariance(v)
    root = np.sqrt((a - b) ** 2 + 4 * c * c)
    lmax, lmin = (a + b + root) / 2, (a + b - root) / 2
    keep = lmax > 0
    return 1.0 - lmin[keep] / lmax[keep]


def _rotated(framed: np.ndarray, tops: np.ndarray, lefts: np.ndarray, size: int, angles: np.ndarray,
             rows: slice, cols: slice) -> np.ndarray:
    """Crops of blocks rotated about their window's centre as OpenCV's warpAffine does (nearest neighbour in
    its 10-bit fixed point, zeros outside the window), so a block's ridge/valley split is NFIQ 2's own.

    `framed` is the image with a two-pixel zero frame; each window is `size` square from (tops, lefts) in it.
    The output grid is NFIQ 2's 36x36 block, its crop measured from the window's centre: with NFIQ 2's padding
    the window is 40x40 (OpenCV pads an image region with the image's own neighbouring pixels).
    """
    centre = size / 2.0
    rad = (angles * (180.0 / np.pi)) * (np.pi / 180.0)
    alpha, beta = np.cos(rad), np.sin(rad)
    m = [alpha, beta, (1 - alpha) * centre - beta * centre, -beta, alpha, beta * centre + (1 - alpha) * centre]
    d = m[0] * m[4] - m[1] * m[3]
    d = np.where(d != 0, 1.0 / np.where(d != 0, d, 1.0), 0.0)
    a11, a22, a12, a21 = m[4] * d, m[0] * d, -m[1] * d, -m[3] * d
    b1, b2 = -a11 * m[2] - a12 * m[5], -a21 * m[2] - a22 * m[5]
    ys = np.arange(size)[rows].astype(np.float64)
    xs = np.arange(size)[cols].astype(np.float64)

    def fixed(v: np.ndarray) -> np.ndarray:
        return np.rint(v * 1024).astype(np.int64)

    x0 = fixed(a12[:, None] * ys + b1[:, None])[:, :, None] + 512 + fixed(a11[:, None] * xs)[:, None, :]
    y0 = fixed(a22[:, None] * ys + b2[:, None])[:, :, None] + 512 + fixed(a21[:, None] * xs)[:, None, :]
    sx, sy = x0 >> 10, y0 >> 10
    inside = (sx >= 0) & (sx < size) & (sy >= 0) & (sy < size)
    w = framed.shape[1]
    flat = (tops[:, None, None] + np.clip(sy, 0, size - 1)) * w + lefts[:, None, None] + np.clip(sx, 0, size - 1)
    return np.where(inside, framed.ravel()[flat], np.float32(0))


def _fda(crop: np.ndarray) -> np.ndarray:
    """FDA per block: the dominant frequency of the ridge signature against the lower half of the spectrum."""
    t = crop.mean(axis=2, dtype=np.float64)
    amp = np.abs(np.fft.rfft(t, axis=1))[:, 1:]            # the real signal's spectrum up to Nyquist
    n = t.shape[1] - 1                                      # NFIQ 2 searches the whole two-sided spectrum
    full = np.concatenate([amp, amp[:, -2::-1]], axis=1)[:, :n]
    m = full.argmax(axis=1)
    i = np.arange(len(full))
    peak = full[i, m]
    left, right = full[i, np.clip(m - 1, 0, n - 1)], full[i, np.clip(m + 1, 0, n - 1)]
    denom = full[:, : n // 2].sum(axis=1)
    val = (peak + 0.3 * (left + right)) / np.where(denom > 0, denom, 1.0)
    return np.where((m == 0) | (m + 1 >= n) | (denom <= 0), 1.0, val)


def _split(v2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NFIQ 2's ridge/valley split of rotated blocks: the column means against their least-squares line."""
    v3 = v2.mean(axis=1, dtype=np.float64)
    x = np.arange(1, v3.shape[1] + 1, dtype=np.float64)
    xm = x.mean()
    mean = v3.mean(axis=1, keepdims=True)
    slope = ((x - xm) * (v3 - mean)).sum(axis=1) / ((x - xm) ** 2).sum()
    dt = mean + slope[:, None] * (x - xm)
    return v3 < dt, dt


WIDTH_NORM = 500 / 125 * 5.0   # NFIQ 2's width normalisation at 500 ppi


def _changes(ridval: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ridge/valley change of every block: its block, position p (ridval[p+1] != ridval[p]), its index
    among the block's changes, and the block's number of changes."""
    blk, pos = np.nonzero(ridval[:, 1:] != ridval[:, :-1])
    counts = np.bincount(blk, minlength=len(ridval))
    start = np.cumsum(counts) - counts
    return blk, pos, np.arange(len(pos)) - start[blk], counts


def _lcs(v2: np.ndarray) -> np.ndarray:
    """LCS per block (0 worst, 1 best): how cleanly the pixels fall on their side of the ridge/valley line."""
    ridval, dt = _split(v2)
    above = v2 >= dt[:, None, :].astype(np.float32)
    ridge_wrong = (above & ridval[:, None, :]).sum(axis=(1, 2))
    valley_wrong = (~above & ~ridval[:, None, :]).sum(axis=(1, 2))
    n_ridge = ridval.sum(axis=1) * v2.shape[1]
    n_valley = (~ridval).sum(axis=1) * v2.shape[1]
    n = len(v2)
    blk, pos, k, counts = _changes(ridval)
    # run widths as NFIQ 2 counts them: the first change's position, then the gaps between changes
    # (normalised, summed, times 1/n as NFIQ 2's cv::mean: a mean on a limit must fall on the same side)
    width = (pos - np.where(k > 0, np.roll(pos, 1), 0)) / WIDTH_NORM
    even = k % 2 == 0
    sums = (np.bincount(blk, width * even, n), np.bincount(blk, width * ~even, n))
    nums = (np.bincount(blk, even, n), np.bincount(blk, ~even, n))
    means = [s * np.divide(1.0, c, out=np.zeros(n), where=c > 0) for s, c in zip(sums, nums, strict=True)]
    begins_ridge = ridval[:, 0]
    mr = np.where(begins_ridge, means[0], means[1])
    mv = np.where(begins_ridge, means[1], means[0])
    ok = ((counts > 0) & (n_ridge > 0) & (n_valley > 0) & (mr >= 3 / WIDTH_NORM) & (mr <= 10 / WIDTH_NORM)
          & (mv >= 2 / WIDTH_NORM) & (mv <= 10 / WIDTH_NORM))
    wrong = valley_wrong / np.maximum(n_valley, 1) + ridge_wrong / np.maximum(n_ridge, 1)
    return np.where(ok, 1.0 - wrong / 2, 0.0)


def _rvu(crop: np.ndarray) -> np.ndarray:
    """Ridge/valley width ratios of all blocks (NFIQ 2's RVU samples), complete ridges and valleys only.

    NFIQ 2 drops the first and last column, skips the first width and pairs the rest from the far end, so
    which ratios it inverts depends on the number of changes; the histogram does not depend on the order.
    """
    ridval, _dt = _split(crop)
    rv = ridval[:, :-1]
    blk, pos, k, counts = _changes(rv)
    n_changes = counts[blk]
    j = np.nonzero((k >= 1) & (k <= n_changes - 3))[0]
    if len(j) == 0:
        return np.zeros(0)
    w0, w1 = (pos[j + 1] - pos[j]).astype(np.float64), (pos[j + 2] - pos[j + 1]).astype(np.float64)
    first = pos[j - k[j]]
    begins_ridge = rv[blk[j], first + 1]
    flip = (n_changes[j] - 3 - k[j]) % 2 == begins_ridge
    return np.where(flip, w0 / w1, w1 / w0)


def _histogram(prefix: str, values: np.ndarray, limits: tuple[float, ...]) -> dict[str, float]:
    """NFIQ 2's ten-bin histogram (counts), mean and standard deviation of one measure."""
    out = {f"{prefix}_Bin10_{i}": 0.0 for i in range(10)}
    if len(values):
        counts = np.bincount(np.searchsorted(np.asarray(limits), values, side="right"), minlength=10)
        out.update({f"{prefix}_Bin10_{i}": float(n) for i, n in enumerate(counts[:10])})
    out[f"{prefix}_Bin10_Mean"] = float(values.mean()) if len(values) else 0.0
    out[f"{prefix}_Bin10_StdDev"] = float(values.std()) if len(values) else 0.0
    return out


def roi(img: np.ndarray) -> np.ndarray:
    """NFIQ 2's region of interest (ImgProcROI): erode, blur 41, Otsu, blur 91, Otsu, holes filled, largest blob.

    The two wide blurs run at half resolution (kernels 21 and 45, half the sigma): a fifth of the time, and
    the region's outline moves by a pixel or so (its grey mean agrees with NFIQ 2's to about 0.1%).
    """
    h, w = img.shape
    small = cv2.resize(cv2.erode(img, np.ones((5, 5), np.uint8)), (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    _, t1 = cv2.threshold(cv2.GaussianBlur(small, (21, 21), 6.8 / 2), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, t2 = cv2.threshold(cv2.GaussianBlur(t1, (45, 45), 14.0 / 2), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = cv2.resize(t2, (w, h), interpolation=cv2.INTER_NEAREST) == 0
    # white holes inside the dark region become region
    n, lab = cv2.connectedComponents((~dark).astype(np.uint8), connectivity=8)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    dark |= ~np.isin(lab, edge) & (lab > 0)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(img.shape, bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_WIDTH] * stats[1:, cv2.CC_STAT_HEIGHT]))
    return lab == biggest


def _blockwise_diff(f: np.ndarray) -> np.ndarray:
    """Centred differences along x computed inside each 32-pixel block (one-sided at the block's edges)."""
    w = f.shape[1]
    g = np.zeros_like(f)
    g[:, 1:-1] = (f[:, 2:] - f[:, :-2]) / 2
    start = np.arange(0, w, BLOCK)
    end = np.minimum(start + BLOCK, w) - 1
    wide = end > start
    s, e = start[wide], end[wide]
    g[:, s] = f[:, s + 1] - f[:, s]
    g[:, e] = f[:, e] - f[:, e - 1]
    g[:, start[~wide]] = 0
    return g


def roi_measures(img: np.ndarray) -> dict[str, float]:
    """ImgProcROIArea_Mean (mean grey of the ROI) and the orientation coherence over the ROI's 32x32 blocks."""
    region = roi(img)
    out = {"ImgProcROIArea_Mean": float(img[region].mean()) if region.any() else 255.0,
           "roi_px": float(region.sum())}
    f = img.astype(np.float32)
    gx, gy = _blockwise_diff(f), _blockwise_diff(f.T).T
    vx, vy = gx * gx - gy * gy, 2 * gx * gy
    sx, sy = _block_sums(vx), _block_sums(vy)
    sm = _block_sums(np.sqrt(vx * vx + vy * vy))
    coh = np.divide(np.hypot(sx, sy), sm, out=np.zeros_like(sm), where=sm > 0)[_block_sums(region) > 0]
    out["OrientationMap_ROIFilter_CoherenceSum"] = float(coh.sum())
    out["OrientationMap_ROIFilter_CoherenceRel"] = float(coh.mean()) if len(coh) else 0.0
    return out


def minutiae_measures(gray: np.ndarray, xy: np.ndarray) -> dict[str, float]:
    """NFIQ 2's minutiae measures, over the given minutiae (x, y in `gray`) in place of FingerJetFX's.

    - FingerJetFX_MinCount_COMMinRect200x200: minutiae within 200x200 pixels centred on their centre of mass;
    - FJFXPos_Mu_MinutiaeQuality_2: share whose 32x32 surroundings are darker than the image by 0..0.5 sigma;
    - FJFXPos_OCL_MinutiaeQuality_80: share whose 32x32 surroundings have an OCL above 0.8.
    All on the image cropped as NFIQ 2 crops it.
    """
    out = {"FingerJetFX_MinutiaeCount": float(len(xy)), "FingerJetFX_MinCount_COMMinRect200x200": 0.0,
           "FJFXPos_Mu_MinutiaeQuality_2": 0.0, "FJFXPos_OCL_MinutiaeQuality_80": 0.0}
    top, bottom, left, right = near_white_frame(gray)
    f = gray[top:bottom, left:right].astype(np.float64)
    h, w = f.shape
    xy = np.asarray(xy, np.int64).reshape(-1, 2) - [left, top]
    xy = xy[(xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)]
    if len(xy) == 0 or min(h, w) < BLOCK:
        return out
    cx, cy = xy.sum(axis=0) // len(xy)
    inside = ((xy[:, 0] >= max(0, cx - 100)) & (xy[:, 0] <= min(w - 1, cx + 100))
              & (xy[:, 1] >= max(0, cy - 100)) & (xy[:, 1] <= min(h - 1, cy + 100)))
    out["FingerJetFX_MinCount_COMMinRect200x200"] = float(inside.sum())
    # grey mean of the 32x32 block at each minutia (cut at the image's edge), from an integral image
    integral = cv2.integral(f)
    x0, y0 = np.maximum(xy[:, 0] - BLOCK // 2, 0), np.maximum(xy[:, 1] - BLOCK // 2, 0)
    x1, y1 = np.minimum(x0 + BLOCK, w), np.minimum(y0 + BLOCK, h)
    sums = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    q = (f.mean() - sums / ((x1 - x0) * (y1 - y0))) / (f.std() or 1.0)
    out["FJFXPos_Mu_MinutiaeQuality_2"] = float(((q > 0) & (q <= 0.5)).mean())
    # OCL of the whole 32x32 block nearest each minutia
    left_x, top_y = np.clip(xy[:, 0] - BLOCK // 2, 0, w - BLOCK), np.clip(xy[:, 1] - BLOCK // 2, 0, h - BLOCK)
    windows = np.lib.stride_tricks.sliding_window_view(f, (BLOCK, BLOCK))[top_y, left_x]
    a, b, c = _covariance(windows)
    root = np.sqrt((a - b) ** 2 + 4 * c * c)
    lmax, lmin = (a + b + root) / 2, (a + b - root) / 2
    ocl = np.where(lmax > 0, 1.0 - lmin / np.where(lmax > 0, lmax, 1.0), 0.0)
    out["FJFXPos_OCL_MinutiaeQuality_80"] = float((np.floor(ocl * 100 + 0.5) > 80).mean())
    return out


def native(gray: np.ndarray) -> dict[str, float]:
    """NFIQ 2's native block measures (OCL, FDA, LCS, RVUP histograms; MMB, Mu), named as NFIQ 2 names them."""
    img = crop_near_white(gray)
    if min(img.shape) < WINDOW + 4:    # hardly anything but white: no block to measure (NFIQ 2 refuses it)
        img = gray
    f = img.astype(np.float64)
    out: dict[str, float] = {"Mu": float(f.mean())}
    out["MMB"] = float(np.nanmean(_padded_blocks(f), axis=(2, 3)).mean())
    out.update(_histogram("OCL", ocl_values(img), OCL_LIMITS))
    rows, cols = _grid(*f.shape)
    mask = segmentation(img)
    fda = lcs = rvu = np.zeros(0)
    n = 0
    if len(rows) and len(cols):
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        fg = np.lib.stride_tricks.sliding_window_view(mask, (BLOCK, BLOCK))[rr.ravel(), cc.ravel()].all(axis=(1, 2))
        rr, cc = rr.ravel()[fg], cc.ravel()[fg]
        n = len(rr)
    if n:
        f32 = img.astype(np.float32)
        inner = np.lib.stride_tricks.sliding_window_view(f32, (BLOCK, BLOCK))[rr, cc]
        a, b, c = _covariance(inner)
        angles = 0.5 * np.arctan2(c, a - b)
        framed = np.pad(f32, 2)
        mid = WINDOW // 2
        across = (slice(mid - SLANT_Y // 2, mid + SLANT_Y // 2), slice(mid - SLANT_X // 2, mid + SLANT_X // 2))
        along = (slice(mid - SLANT_X // 2, mid + SLANT_X // 2), slice(mid - SLANT_Y // 2, mid + SLANT_Y // 2))
        fda = _fda(_rotated(framed, rr - 2, cc - 2, WINDOW + 4, angles + np.pi / 2, *along))
        lcs = _lcs(_rotated(framed, rr, cc, WINDOW, angles, *across))
        rvu = _rvu(_rotated(framed, rr - 2, cc - 2, WINDOW + 4, angles, *across))
    out.update(_histogram("FDA", fda, FDA_LIMITS))
    out.update(_histogram("LCS", lcs, LCS_LIMITS))
    out.update(_histogram("RVUP", rvu, RVU_LIMITS))
    out["blocks_fg"] = float(n)
    out.update(roi_measures(img))
    return out
