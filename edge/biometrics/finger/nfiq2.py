"""NIST NFIQ 2 (through nbis-python) on the appliance: the fingerprint quality borderpost reports.

NFIQ 2 is the standard (ISO/IEC 29794-4): 0-100 with its own actionable feedback and native quality
measures. It needs about a third of a second per print here, so the live capture loop judges frames with
the fast score (`quality`, algorithm `borderpost-fq`) and runs NFIQ 2 once on the frame it keeps.
NFIQ 2 is defined at 500 ppi: a sensor of another resolution is resampled first (each backend states its
ppi). The same extraction gives the ISO/IEC 19794-2:2011 minutiae template used for 1:1 matching.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any, TypeVar

import cv2
import numpy as np

from edge.biometrics.finger import nbis_memory
from edge.biometrics.finger.feedback import ordered

T = TypeVar("T")

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


class _NbisThread:
    """The one thread that ever calls NBIS, and the extractors it owns.

    Why one thread: libnbis keeps about 48 MB of thread-local state (its `.tbss`), set up in every thread
    that calls it and held until that thread ends, so NFIQ 2 called from the lane, the booth's request
    threads and the simulators would hold that much again per thread (measured: three live threads that
    had each assessed a print, 264 MB in all; one, 165 MB). The library also keeps global state, so calls
    are one at a time anyway. Native objects never leave this thread: callers get Python values. What of
    that state the library never writes, and its forest's text once parsed, is handed back (`nbis_memory`).
    """

    def __init__(self, hand_back: bool = True) -> None:
        self._hand_back = hand_back       # what libnbis holds but does not use (`nbis_memory`)
        self._pid = 0
        self._executor: ThreadPoolExecutor | None = None
        self._extractors: dict[bool, Any] = {}
        self._guard = threading.Lock()

    def run(self, fn: Callable[[Callable[[bool], Any]], T]) -> T:
        """`fn(extractor)` on the NBIS thread; `extractor(nfiq2)` gives the extractor (with NFIQ 2 or not)."""
        with self._guard:
            if self._executor is None or self._pid != os.getpid():   # a forked child has no such thread
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbis")
                self._extractors = {}
                self._pid = os.getpid()
            executor = self._executor
        return executor.submit(fn, self._extractor).result()

    def _extractor(self, nfiq2: bool) -> Any:
        if nfiq2 not in self._extractors:
            try:
                import nbis
            except ImportError as exc:
                raise Nfiq2Unavailable(f"NIST NFIQ 2 is not installed (pip install nbis-python): {exc}") from exc
            except OSError as exc:
                hint = " (run: borderpost finger nbis-compat)" if "GLIBC_2.38" in str(exc) else ""
                raise Nfiq2Unavailable(f"NIST NFIQ 2's libraries cannot load here{hint}: {exc}") from exc
            settings = nbis.NbisExtractorSettings(min_quality=0.0, get_center=False, check_fingerprint=False,
                                                  compute_nfiq2=nfiq2, ppi=None)
            self._extractors[nfiq2] = nbis.new_nbis_extractor(settings)
            if self._hand_back:
                nbis_memory.release()
        return self._extractors[nfiq2]


on_nbis_thread = _NbisThread().run


def warm_up() -> None:
    """Make both extractors now (NFIQ 2's parses its forest: a passing peak better taken early)."""
    on_nbis_thread(lambda extractor: (extractor(True), extractor(False)))


def at_500ppi(gray: np.ndarray, ppi: float) -> np.ndarray:
    """The image resampled to NFIQ 2's 500 ppi (area averaging down, cubic up); unchanged at 500."""
    if abs(ppi - NATIVE_PPI) < 1.0:
        return gray
    f = NATIVE_PPI / ppi
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, None, fx=f, fy=f, interpolation=interp)


def png_at_500ppi(gray: np.ndarray, ppi: float = NATIVE_PPI) -> bytes:
    """The print as NBIS takes it: a PNG at 500 ppi."""
    ok, buf = cv2.imencode(".png", at_500ppi(gray, ppi))
    if not ok:
        raise Nfiq2Failed("the image cannot be encoded")
    return buf.tobytes()


def extract(extractor: Any, png: bytes) -> Any:
    """NBIS minutiae of a PNG print (on the NBIS thread only); Nfiq2Failed when NBIS refuses it."""
    try:
        return extractor.extract_minutiae(png)
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
    png = png_at_500ppi(gray, ppi)

    def measure(extractor: Callable[[bool], Any]) -> tuple[float, dict[str, float], dict[str, float], int]:
        minutiae = extract(extractor(True), png)
        q = minutiae.quality()
        return (float(q.score), {v.name: float(v.value) for v in q.actionable},
                {v.name: float(v.value) for v in q.features}, len(minutiae.get()))

    score, actionable, native, count = on_nbis_thread(measure)
    # NFIQ 2 stops before its actionable measures on an empty or uniform image: judge those two the same way
    measured = actionable or {"EmptyImageOrContrastTooLow": float(gray.mean()), "UniformImage": float(gray.std()),
                              "FingerprintImageWithMinutiae": float(count)}
    keys = feedback(measured, int(gray.size * (NATIVE_PPI / ppi) ** 2))
    if "finger.place_finger" in keys:     # nothing on the glass: the other advice would only confuse
        keys = ("finger.place_finger",)
    acceptable = score >= threshold and not keys
    if not acceptable and not keys:
        keys = ("finger.try_again",)
    return Nfiq2Quality(score=score, acceptable=acceptable, feedback=keys, actionable=actionable, native=native,
                        minutiae=count, threshold=threshold, version=version())
