"""Faces: ISO/IEC 29794-5-style quality with live feedback, and on-device 1:1 matching.

Public interface (see docs/faces.md): `FaceAnalyzer(FaceConfig)` with `.quality(bgr)` and
`.verify(live, portrait)`; `auto_capture(device, analyzer, timeout)`; `FEEDBACK_KEYS`.
Importing this package loads no model and no runtime.
"""

from __future__ import annotations

from typing import Any

from edge.biometrics.face.errors import FaceError
from edge.biometrics.face.feedback import FEEDBACK_KEYS

__all__ = [
    "FEEDBACK_KEYS",
    "AutoCaptureResult",
    "FaceAnalyzer",
    "FaceConfig",
    "FaceError",
    "FaceMatch",
    "FaceQualityReport",
    "LiveFrame",
    "auto_capture",
    "run_auto_capture",
]

_LAZY = {
    "FaceAnalyzer": "analyzer", "FaceConfig": "analyzer", "FaceMatch": "analyzer",
    "FaceQualityReport": "analyzer", "auto_capture": "live", "run_auto_capture": "live",
    "LiveFrame": "live", "AutoCaptureResult": "live",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"edge.biometrics.face.{_LAZY[name]}"), name)
    raise AttributeError(name)
