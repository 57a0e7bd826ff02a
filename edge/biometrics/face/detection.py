"""Face detection with YuNet: boxes, five landmarks and a confidence, in the input image's pixels.

Images are shrunk to the first of `sides` before detection (speed: YuNet's cost grows with pixels,
15 ms at 640x480, 4.5 ms at 320x240 on one core); only when that finds nothing is the next, larger
size tried, so a small portrait in a big scan is still found. Tiny images are grown to `min_side`.
A face large enough to pass the quality gate (40 px between the eyes) is ~45 px wide at 320: easy.
Matching detects at 640 (`PRECISE`): its five landmarks drive the alignment, and at 320 they are
coarse enough to cost genuine scores (lowest genuine pair of the shared set 0.56 instead of 0.66).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

PRECISE: tuple[int, ...] = (640,)


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

    def __init__(self, net: Any, sides: tuple[int, ...] = (320, 640), min_side: int = 240) -> None:
        self.net = net
        self.sides = sides
        self.min_side = min_side

    def detect(self, bgr: np.ndarray, sides: tuple[int, ...] | None = None) -> list[DetectedFace]:
        """Faces, largest first. `sides=(640,)` for precise landmarks (matching), default: fast first."""
        side = max(bgr.shape[:2])
        faces: list[DetectedFace] = []
        for limit in sides or self.sides:
            faces = self._detect(bgr, limit)
            if faces or side <= limit:
                break
        return faces

    def _detect(self, bgr: np.ndarray, max_side: int) -> list[DetectedFace]:
        h, w = bgr.shape[:2]
        side = max(h, w)
        scale = 1.0
        if side > max_side:
            scale = max_side / side
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
