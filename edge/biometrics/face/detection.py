"""Face detection with YuNet: boxes, five landmarks and a confidence, in the input image's pixels.

Big images are shrunk to `max_side` before detection (speed; a 20 MP photo costs the same as a VGA
frame) and tiny ones grown to `min_side` (a scanned data-page portrait can be ~100 px wide).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[float, float, float, float]   # x, y, w, h
    points: np.ndarray                        # (5, 2): image-left eye, image-right eye, nose, mouth L, mouth R
    score: float

    @property
    def width(self) -> float:
        return self.box[2]

    @property
    def height(self) -> float:
        return self.box[3]

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2] / 2.0, self.box[1] + self.box[3] / 2.0)

    @property
    def size(self) -> float:
        return max(self.box[2], self.box[3])


class Detector:
    """Thread-unsafe (one OpenCV net): create one per thread."""

    def __init__(self, net: Any, max_side: int = 640, min_side: int = 240) -> None:
        self.net = net
        self.max_side = max_side
        self.min_side = min_side

    def detect(self, bgr: np.ndarray) -> list[DetectedFace]:
        h, w = bgr.shape[:2]
        side = max(h, w)
        scale = 1.0
        if side > self.max_side:
            scale = self.max_side / side
        elif side < self.min_side:
            scale = self.min_side / side
        img = bgr
        if scale != 1.0:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            img = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)
        self.net.setInputSize((img.shape[1], img.shape[0]))
        _, rows = self.net.detect(img)
        faces = []
        if rows is not None:
            for r in rows:
                box = tuple(float(v) / scale for v in r[:4])
                points = (np.asarray(r[4:14], dtype=np.float64).reshape(5, 2)) / scale
                faces.append(DetectedFace(box=box, points=points, score=float(r[14])))  # type: ignore[arg-type]
        faces.sort(key=lambda f: f.width * f.height, reverse=True)
        return faces


def comparable_faces(faces: list[DetectedFace], ratio: float = 0.5) -> list[DetectedFace]:
    """Faces at least `ratio` the size of the largest: a ghost image or a passer-by far behind is not one."""
    if not faces:
        return []
    big = faces[0].size
    return [f for f in faces if f.size >= ratio * big]
