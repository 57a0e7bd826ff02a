"""Fingerprints: NFIQ 2-class quality with actionable feedback, and the per-finger capture flow.

Interfaces for the rest of the appliance (see docs/fingerprints.md):
- `assess(image) -> FingerQuality` (score 0-100, acceptable, feedback keys, components, to_dict())
- `FEEDBACK_KEYS`: every message key `assess` can return, with reference English wording
- `capture_sequence(device, fingers, timeout, retries) -> list[FingerCapture]`
"""

from edge.biometrics.finger.capture import FINGERS, FingerCapture, capture_finger, capture_sequence
from edge.biometrics.finger.feedback import FEEDBACK_KEYS, FEEDBACK_ORDER
from edge.biometrics.finger.quality import DEFAULT_THRESHOLD, FingerQuality, InvalidImage, assess

__all__ = [
    "DEFAULT_THRESHOLD",
    "FEEDBACK_KEYS",
    "FEEDBACK_ORDER",
    "FINGERS",
    "FingerCapture",
    "FingerQuality",
    "InvalidImage",
    "assess",
    "capture_finger",
    "capture_sequence",
]
