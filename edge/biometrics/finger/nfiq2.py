"""NIST NFIQ 2 (through nbis-python) on the appliance: the fingerprint quality borderpost reports.

NFIQ 2 is the standard (ISO/IEC 29794-4): 0-100 with its own actionable feedback and native quality
measures. It needs about a third of a second per print here, so the live capture loop judges frames with
the fast score (`quality`, algorithm `borderpost-fq`) and runs NFIQ 2 once on the frame it keeps.
NFIQ 2 is defined at 500 ppi: a sensor of another resolution is resampled first (each backend states its
ppi). The same extraction gives the ISO/IEC 19794-2:2011 minutiae template used for 1:1 matching.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

import cv2
import numpy as np

from edge.biometrics.finger.feedback import ordered

ALGORITHM = "nfiq2"
NATIVE_PPI = 500.0
DEFAULT_THRESHOLD = 35.0     # the score at or above which a print is acceptable (the fast score's scale too)

# NFIQ 2's actionable quality feedback (its names and default thresholds) -> what the traveller is told
ACTIONABLE: dict[str, tuple[str, float, str]] = {
    # name: (fires when the value is ..., threshold, feedback key)
    "EmptyImageOrContrastTooLow": (">", 250.0, "finger.place_finger"),
    "UniformImage": ("<", 1.0, "finger.clean_sensor"),
    "FingerprintImageWithMinutiae": ("<", 5.0, "finger.press_flat"),
    "SufficientFingerprintForeground": ("<", 50_000.0, "finger.centre_finger"),
}


class Nfiq2Unavailable(RuntimeError):
    """nbis-python is missing or its libraries cannot load here (the message says how to fix it)."""


class Nfiq2Failed(ValueError):
    """NFIQ 2 refused the image (not a fingerprint, too little ridge area, undecodable)."""


@dataclass(frozen=True)
class Nfiq2Quality:
    score: float
    acceptable: bool
    feedback: tuple[str, ...]
    actionable: dict[str, float] = field(default_factory=dict)     # NFIQ 2's actionable measures, by name
    native: dict[str, float] = field(default_factory=dict)         # NFIQ 2's native quality measures
    minutiae: int = 0
    threshold: float = DEFAULT_THRESHOLD
    algorithm: str = ALGORITHM
    version: str = ""

    def to_dict(self, native: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "algorithm": self.algorithm, "version": self.version, "score": round(self.score, 1),
            "acceptable": self.acceptable, "feedback": list(self.feedback), "threshold": self.threshold,
            "minutiae": self.minutiae, "actionable": {k: round(v, 4) for k, v in self.actionable.items()},
        }
        if native:
            d["native"] = {k: round(v, 6) for k, v in self.native.items()}
        return d


@lru_cache(maxsize=1)
def version() -> str:
    try:
        return metadata.version("nbis-python")
    except metadata.PackageNotFoundError:
        return ""


@lru_cache(maxsize=2)
def _extractor(nfiq2: bool) -> Any:
    try:
        import nbis
    except ImportError as exc:
        raise Nfiq2Unavailable(f"NIST NFIQ 2 is not installed (pip install nbis-python): {exc}") from exc
    except OSError as exc:
        hint = " (run: borderpost finger nbis-compat)" if "GLIBC_2.38" in str(exc) else ""
        raise Nfiq2Unavailable(f"NIST NFIQ 2's libraries cannot load here{hint}: {exc}") from exc
    settings = nbis.NbisExtractorSettings(min_quality=0.0, get_center=False, check_fingerprint=False,
                                          compute_nfiq2=nfiq2, ppi=None)
    return nbis.new_nbis_extractor(settings)


_lock = threading.Lock()   # one NBIS extraction at a time: the native library keeps global state


def at_500ppi(gray: np.ndarray, ppi: float) -> np.ndarray:
    """The image resampled to NFIQ 2's 500 ppi (area averaging down, cubic up); unchanged at 500."""
    if abs(ppi - NATIVE_PPI) < 1.0:
        return gray
    f = NATIVE_PPI / ppi
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, None, fx=f, fy=f, interpolation=interp)


def _png(gray: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", gray)
    if not ok:
        raise Nfiq2Failed("the image cannot be encoded")
    return buf.tobytes()


def extract(gray: np.ndarray, ppi: float = NATIVE_PPI, nfiq2: bool = True) -> Any:
    """NBIS minutiae (and NFIQ 2 when asked) of an 8-bit grey print; Nfiq2Failed when NBIS refuses it."""
    ex = _extractor(nfiq2)
    data = _png(at_500ppi(gray, ppi))
    with _lock:
        try:
            return ex.extract_minutiae(data)
        except Exception as exc:  # nbis raises its own NbisError family for unusable images
            raise Nfiq2Failed(f"NFIQ 2 refused the image: {type(exc).__name__}") from exc


FULL_SENSOR_PX = 120_000      # NFIQ 2's foreground limit assumes a sensor at least this large (at 500 ppi)


def feedback(actionable: dict[str, float], image_px: int = FULL_SENSOR_PX) -> tuple[str, ...]:
    """Feedback keys from NFIQ 2's actionable measures; the foreground limit shrinks with a small sensor's area."""
    keys = set()
    for name, (op, limit, key) in ACTIONABLE.items():
        if name == "SufficientFingerprintForeground":
            limit *= min(1.0, image_px / FULL_SENSOR_PX)
        value = actionable.get(name)
        if value is not None and (value > limit if op == ">" else value < limit):
            keys.add(key)
    return ordered(keys)


def assess(gray: np.ndarray, ppi: float = NATIVE_PPI, threshold: float = DEFAULT_THRESHOLD) -> Nfiq2Quality:
    """NFIQ 2 of one print with what the traveller should change (from NFIQ 2's actionable feedback)."""
    minutiae = extract(gray, ppi)
    q = minutiae.quality()
    actionable = {v.name: float(v.value) for v in q.actionable}
    native = {v.name: float(v.value) for v in q.features}
    # NFIQ 2 stops before its actionable measures on an empty or uniform image: judge those two the same way
    measured = actionable or {"EmptyImageOrContrastTooLow": float(gray.mean()), "UniformImage": float(gray.std()),
                              "FingerprintImageWithMinutiae": float(len(minutiae.get()))}
    keys = feedback(measured, int(gray.size * (NATIVE_PPI / ppi) ** 2))
    if "finger.place_finger" in keys:     # nothing on the glass: the other advice would only confuse
        keys = ("finger.place_finger",)
    score = float(q.score)
    acceptable = score >= threshold and not keys
    if not acceptable and not keys:
        keys = ("finger.try_again",)
    return Nfiq2Quality(score=score, acceptable=acceptable, feedback=keys, actionable=actionable, native=native,
                        minutiae=len(minutiae.get()), threshold=threshold, version=version())
