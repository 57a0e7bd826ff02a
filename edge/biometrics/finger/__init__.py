"""Fingerprints: NFIQ 2-class quality with actionable feedback (the capture loop is the lane's).

Interfaces for the rest of the appliance (see docs/fingerprints.md):
- `assess(image) -> FingerQuality` (score 0-100, acceptable, feedback keys, components, to_dict())
- `FEEDBACK_KEYS`: every message key `assess` can return, with reference English wording
- `FINGERS`: the ten fingers' names; the capture loop is `edge.lane.finger_capture`
"""

from edge.biometrics.finger.feedback import FEEDBACK_KEYS, FEEDBACK_ORDER
from edge.biometrics.finger.names import FINGERS
from edge.biometrics.finger.quality import DEFAULT_THRESHOLD, FingerQuality, InvalidImage, assess

__all__ = [
    "DEFAULT_THRESHOLD",
    "FEEDBACK_KEYS",
    "FEEDBACK_ORDER",
    "FINGERS",
    "FingerQuality",
    "InvalidImage",
    "assess",
]
