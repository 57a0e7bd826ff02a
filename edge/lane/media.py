"""Images the lane keeps for the officer: encoded once, cropped to the face."""

from __future__ import annotations

import cv2
import numpy as np


def jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    return buf.tobytes() if ok else b""


def crop_face(image: np.ndarray, box: tuple[float, float, float, float] | None, margin: float = 0.6) -> np.ndarray:
    """The face with room around it (head and shoulders), for the officer's side-by-side view."""
    if box is None:
        return image
    x, y, w, h = box
    h_img, w_img = image.shape[:2]
    x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    x1, y1 = min(w_img, int(x + w + margin * w)), min(h_img, int(y + h + margin * h))
    return image[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else image
