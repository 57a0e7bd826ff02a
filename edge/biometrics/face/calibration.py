"""Threshold calibration from genuine and impostor scores: pure functions, no models.

How the shipped threshold was chosen (reproduce with `borderpost face calibrate DIR`):
1. score every pair of the calibration photos (same person: genuine; different: impostor);
2. fit a normal distribution to the impostor scores and take the score its upper tail leaves at the
   target FMR (a parametric estimate, because the few hundred impostor comparisons available cannot
   observe 0.1% directly);
3. take the larger of that and the highest impostor score seen, round up to 0.01;
4. report the observed FMR with its 95% upper bound (rule of three when nothing was observed) and the
   FNMR at that threshold.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    genuine: bool


def read_pairs(path: Path) -> list[Pair]:
    """`a,b,same` CSV (header required) as in the shared data set."""
    with path.open(newline="", encoding="utf-8") as f:
        return [Pair(r["a"], r["b"], r["same"].strip() in ("1", "true", "True", "yes")) for r in csv.DictReader(f)]


def all_pairs(names: Sequence[str], identity_len: int = 8) -> list[Pair]:
    """Every unordered pair; identity is the file-name prefix (`personNN`)."""
    names = sorted(names)
    return [Pair(a, b, a[:identity_len] == b[:identity_len])
            for i, a in enumerate(names) for b in names[i + 1:]]


def fmr_fnmr(genuine: Sequence[float], impostor: Sequence[float], threshold: float) -> tuple[float, float]:
    """(false-match rate, false-non-match rate) when `score >= threshold` means a match."""
    g, i = np.asarray(genuine, dtype=float), np.asarray(impostor, dtype=float)
    fmr = float((i >= threshold).mean()) if i.size else 0.0
    fnmr = float((g < threshold).mean()) if g.size else 0.0
    return fmr, fnmr


def equal_error_rate(genuine: Sequence[float], impostor: Sequence[float]) -> tuple[float, float]:
    """(EER, threshold there), scanning every observed score as a threshold."""
    cands = np.unique(np.concatenate([np.asarray(genuine, float), np.asarray(impostor, float)]))
    if cands.size == 0:
        return 0.0, 0.0
    best = (2.0, 0.0, 0.0)
    for t in cands:
        fmr, fnmr = fmr_fnmr(genuine, impostor, float(t))
        gap = abs(fmr - fnmr)
        if gap < best[0]:
            best = (gap, (fmr + fnmr) / 2, float(t))
    # a perfectly separated set: EER 0 anywhere in the gap; report its middle
    if best[1] == 0.0 and len(impostor) and len(genuine):
        return 0.0, float((max(impostor) + min(genuine)) / 2)
    return best[1], best[2]


def upper_bound_95(errors: int, trials: int) -> float:
    """95% one-sided upper bound of an error rate: rule of three at zero, else Clopper-Pearson-like normal."""
    if trials == 0:
        return 1.0
    if errors == 0:
        return min(1.0, 3.0 / trials)
    p = errors / trials
    return min(1.0, p + 1.645 * math.sqrt(p * (1 - p) / trials))


def threshold_for_fmr(impostor: Sequence[float], target_fmr: float) -> float:
    """max(normal-tail estimate at `target_fmr`, highest impostor score), rounded up to 0.01."""
    i = np.asarray(impostor, dtype=float)
    if i.size < 2:
        raise ValueError("need at least two impostor scores")
    tail = NormalDist(float(i.mean()), float(i.std(ddof=1)) or 1e-6).inv_cdf(1 - target_fmr)
    return math.ceil(max(tail, float(i.max())) * 100 - 1e-9) / 100


@dataclass(frozen=True)
class CalibrationReport:
    target_fmr: float
    threshold: float
    genuine: int
    impostor: int
    fmr: float
    fmr_upper_95: float
    fnmr: float
    eer: float
    eer_threshold: float
    genuine_min: float
    genuine_mean: float
    impostor_max: float
    impostor_mean: float
    skipped: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def calibrate(genuine: Sequence[float], impostor: Sequence[float], target_fmr: float,
              skipped: int = 0) -> CalibrationReport:
    t = threshold_for_fmr(impostor, target_fmr)
    fmr, fnmr = fmr_fnmr(genuine, impostor, t)
    eer, eer_t = equal_error_rate(genuine, impostor)
    false_matches = round(fmr * len(impostor))
    return CalibrationReport(
        target_fmr=target_fmr, threshold=t, genuine=len(genuine), impostor=len(impostor), fmr=fmr,
        fmr_upper_95=upper_bound_95(false_matches, len(impostor)), fnmr=fnmr, eer=eer, eer_threshold=eer_t,
        genuine_min=float(min(genuine)) if genuine else 0.0,
        genuine_mean=float(np.mean(genuine)) if genuine else 0.0,
        impostor_max=float(max(impostor)), impostor_mean=float(np.mean(impostor)), skipped=skipped,
    )
