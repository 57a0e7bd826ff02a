"""Pure helpers of the lane's images."""

from __future__ import annotations

import numpy as np

from edge.lane.media import crop_face


def test_crop_face_keeps_the_face_with_a_margin_and_never_fails():
    img = np.zeros((480, 640, 3), np.uint8)
    assert crop_face(img, (300, 200, 100, 100)).shape == (220, 220, 3)
    assert crop_face(img, (600, 450, 100, 100)).shape[:2] == (90, 100)     # clipped at the edges
    assert crop_face(img, None) is img
    assert crop_face(img, (700, 500, 10, 10)) is img                       # box outside the frame
