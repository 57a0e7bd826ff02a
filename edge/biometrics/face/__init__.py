"""Faces: ISO/IEC 29794-5-style quality with live feedback, and on-device 1:1 matching.

Public interface (see docs/faces.md): `FaceAnalyzer(FaceConfig)` with `.quality(bgr)` and
`.verify(live, portrait)`; `FEEDBACK_KEYS`. The camera loop is the lane's (`edge.lane.face_capture`).
Importing this package loads no model and no runtime.
"""

from __future__ import annotations

from typing import Any

from edge.biometrics.face.errors import FaceError
from edge.biometrics.face.feedback import FEEDBACK_KEYS

__all__ = [
    "FEEDBACK_KEYS",
    "FaceAnalyzer",
    "FaceConfig",
    "FaceError",
    "FaceMatch",
    "FaceQualityReport",
]

_LAZY = {
    "FaceAnalyzer": "analyzer", "FaceConfig": "analyzer", "FaceMatch": "analyzer",
    "FaceQualityReport": "analyzer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"edge.biometrics.face.{_LAZY[name]}"), name)
    raise AttributeError(name)
