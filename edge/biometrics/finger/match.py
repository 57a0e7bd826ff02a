"""1:1 fingerprint matching: ISO/IEC 19794-2:2011 minutiae templates (NIST MINDTCT) and NIST Bozorth3.

Why Bozorth3: it is NIST's open reference matcher, runs in about 2 ms a comparison here, and reads the
standard template format other systems exchange. The threshold is calibrated on the 27 real development
prints (`python bench/finger.py --calibrate`) for a stated false-match rate of at most 1 in 327 (0.31 %):
the smallest score no impostor pair of theirs reached (the highest of the 327 impostor pairs scored 24).
Bozorth3's customary 40 is stricter; pass `threshold=` where a post wants it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.biometrics.finger import nfiq2

ALGORITHM = "nbis-bozorth3"
THRESHOLD = 25
TEMPLATE_FORMAT = "ISO/IEC 19794-2:2011"
_MAGIC = b"FMR\x00"


class BadTemplate(ValueError):
    """Bytes that are not an ISO/IEC 19794-2 finger minutiae record."""


@dataclass(frozen=True)
class Verification:
    score: int
    threshold: int
    match: bool
    algorithm: str = ALGORITHM

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "threshold": self.threshold, "match": self.match, "algorithm": self.algorithm,
                "version": nfiq2.version()}


def template(gray: np.ndarray, ppi: float = nfiq2.NATIVE_PPI) -> bytes:
    """The ISO/IEC 19794-2:2011 minutiae template of one print (resampled to 500 ppi first)."""
    png = nfiq2.png_at_500ppi(gray, ppi)
    return nfiq2.on_nbis_thread(lambda extractor: bytes(nfiq2.extract(extractor(False), png).to_iso_19794_2_2011()))


def check_template(data: bytes) -> bytes:
    """The template if it looks like a 19794-2 record (magic, version, stated length), else BadTemplate."""
    if len(data) < 28 or data[:4] != _MAGIC:
        raise BadTemplate("not an ISO/IEC 19794-2 finger minutiae record (no 'FMR' header)")
    if data[4:8] != b"030\x00":
        raise BadTemplate(f"record version {data[4:7]!r}: expected the 2011 edition ('030')")
    if int.from_bytes(data[8:12], "big") != len(data):
        raise BadTemplate("the record's stated length does not match its size (truncated?)")
    return data


def verify(probe: bytes, reference: bytes, threshold: int = THRESHOLD) -> Verification:
    """Bozorth3 score of two templates and the decision at `threshold`."""
    probe, reference = check_template(probe), check_template(reference)
    try:
        score = nfiq2.on_nbis_thread(lambda extractor: int(
            extractor(False).compare_iso_19794_2_2011(probe, reference)))
    except nfiq2.Nfiq2Unavailable:
        raise
    except Exception as exc:
        raise BadTemplate(f"the matcher refused the template: {type(exc).__name__}") from exc
    return Verification(score=score, threshold=threshold, match=score >= threshold)
