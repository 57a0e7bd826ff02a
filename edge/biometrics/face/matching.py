"""1:1 matching: align on five landmarks, embed with SFace, compare by cosine similarity.

Alignment maps the detector's eyes, nose and mouth corners onto the 112x112 template SFace was trained
with (a similarity transform: rotation, uniform scale, shift). The threshold is not SFace's LFW default
(0.363) but one calibrated for a stated false-match rate (see `calibration` and docs/faces.md).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edge.biometrics.face.detection import DetectedFace

TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

# Calibrated on the 33 shared photos, all 528 pairs (77 genuine, 451 impostor), for FMR 0.1% by a normal
# fit of the impostor scores (mean 0.133); observed FMR 0/451 (95% upper bound 0.67%), FNMR 0/77.
# Reproduce: `borderpost face calibrate DIR --fmr 0.001` (see docs/faces.md).
DEFAULT_THRESHOLD = 0.38
TARGET_FMR = 0.001


def align(bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
    """The 112x112 BGR crop SFace expects."""
    m, _ = cv2.estimateAffinePartial2D(face.points.astype(np.float32), TEMPLATE_112, method=cv2.LMEDS)
    if m is None:  # degenerate landmarks: fall back to the box
        x, y, w, h = face.box
        src = np.float32([[x, y], [x + w, y], [x, y + h]])
        m = cv2.getAffineTransform(src, np.float32([[0, 0], [112, 0], [0, 112]]))
    return cv2.warpAffine(bgr, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Embedder:
    def __init__(self, recogniser: Any) -> None:
        self.recogniser = recogniser

    def embed(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        """L2-normalised 128-d embedding."""
        feat = np.asarray(self.recogniser.feature(align(bgr, face)), dtype=np.float64).ravel()
        n = float(np.linalg.norm(feat))
        return feat / n if n > 0 else feat


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two normalised embeddings, -1..1."""
    return float(np.clip(np.dot(a, b), -1.0, 1.0))
