"""OpenCV DNN for the ONNX models (YuNet detector, SFace recogniser). OpenCV 5.0 fails to load SFace."""

from __future__ import annotations

from typing import Any

import cv2

from edge.biometrics.face.runtimes import RuntimeUnavailable


def check() -> None:
    major = int(cv2.__version__.split(".")[0])
    if major != 4:
        raise RuntimeUnavailable(f"OpenCV {cv2.__version__}: the face models need OpenCV 4.x")
    if not hasattr(cv2, "FaceDetectorYN") or not hasattr(cv2, "FaceRecognizerSF"):
        raise RuntimeUnavailable(f"OpenCV {cv2.__version__} lacks FaceDetectorYN/FaceRecognizerSF")


def set_threads(threads: int) -> None:
    cv2.setNumThreads(max(1, threads))


def load_detector(path: str, score_threshold: float, nms_threshold: float = 0.3) -> Any:
    return cv2.FaceDetectorYN.create(path, "", (320, 320), score_threshold, nms_threshold, 50)


def load_recogniser(path: str) -> Any:
    return cv2.FaceRecognizerSF.create(path, "")
