"""The 468-point face mesh (MediaPipe's face_landmark.tflite) and the geometry read from it.

The detector's eyes give the crop its rotation, so a tilted head is levelled before the mesh model
sees it (the model is trained on upright faces); the mesh is mapped back to image pixels afterwards.
Pose comes from the mesh's own depth (z): yaw from the depth difference across the eye corners,
pitch from the depth difference between forehead and chin, roll from the eye line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge.biometrics.face.detection import DetectedFace
from edge.biometrics.face.runtimes import TfliteModel

INPUT = 192
ROI_SCALE = 1.5
PRESENCE_MIN = 0.5

# mesh indices (subject's right eye is on the image's left)
EYE_R = {"outer": 33, "inner": 133, "upper": 159, "lower": 145, "contour": (33, 160, 158, 133, 153, 144)}
EYE_L = {"outer": 263, "inner": 362, "upper": 386, "lower": 374, "contour": (263, 387, 385, 362, 380, 373)}
MOUTH = {"left": 61, "right": 291, "upper": 13, "lower": 14}
FOREHEAD, CHIN, NOSE_TIP = 10, 152, 1
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# the canonical face's forehead sits behind its chin; this is the mesh's pitch for a level frontal head
PITCH_OFFSET_DEG = -8.0   # median over the 33 frontal-ish photos of the shared set


@dataclass(frozen=True)
class Mesh:
    points: np.ndarray     # (468, 3): x, y in image pixels, z in pixels (relative depth)
    presence: float        # the model's face-presence confidence, 0-1


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def roi_transform(center: tuple[float, float], size: float, angle: float) -> np.ndarray:
    """2x3 affine that maps a square crop of `size` px around `center`, rotated by `angle`, to INPUT px."""
    cx, cy = center
    m = cv2.getRotationMatrix2D((cx, cy), angle, INPUT / size)
    m[0, 2] += INPUT / 2 - cx
    m[1, 2] += INPUT / 2 - cy
    return m


class LandmarkModel:
    def __init__(self, model: TfliteModel) -> None:
        self.model = model

    def run(self, bgr: np.ndarray, face: DetectedFace, refine_deg: float = 5.0) -> Mesh | None:
        """The mesh of `face`; when the levelled crop was off by more than `refine_deg`, crop again."""
        (ex1, ey1), (ex2, ey2) = face.points[0], face.points[1]
        angle = math.degrees(math.atan2(ey2 - ey1, ex2 - ex1))
        mesh = self._run(bgr, face.center, face.size * ROI_SCALE, angle)
        if mesh is None:
            return None
        mesh_roll = roll_deg(mesh)
        if abs(mesh_roll - angle) > refine_deg:
            xy = mesh.points[:, :2]
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            center = (float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2))
            again = self._run(bgr, center, float(max(hi - lo)) * ROI_SCALE, mesh_roll)
            mesh = again or mesh
        return mesh

    def _run(self, bgr: np.ndarray, center: tuple[float, float], size: float, angle: float) -> Mesh | None:
        m = roi_transform(center, size, angle)
        crop = cv2.warpAffine(bgr, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        tensor = (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)[np.newaxis]
        raw, flag = self.model.run(tensor)
        presence = _sigmoid(float(np.asarray(flag).ravel()[-1]))
        if presence < PRESENCE_MIN:
            return None
        pts = np.asarray(raw, dtype=np.float64).reshape(-1, 3)[:468]
        inv = cv2.invertAffineTransform(m)
        xy = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        scale = math.hypot(inv[0, 0], inv[1, 0])
        return Mesh(points=np.column_stack([xy, pts[:, 2] * scale]), presence=presence)


def eye_centers(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye, image-right eye) centres in pixels."""
    p = mesh.points
    return p[list(EYE_R["contour"]), :2].mean(axis=0), p[list(EYE_L["contour"]), :2].mean(axis=0)


def inter_eye_distance(mesh: Mesh) -> float:
    a, b = eye_centers(mesh)
    return float(np.linalg.norm(b - a))


def roll_deg(mesh: Mesh) -> float:
    """Positive when the head leans so that the image-right eye is lower (clockwise on screen)."""
    a, b = eye_centers(mesh)
    return math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))


def yaw_deg(mesh: Mesh) -> float:
    """Positive when the face turns towards the image's right (the subject's left)."""
    p = mesh.points
    r, left = p[EYE_R["outer"]], p[EYE_L["outer"]]
    span = float(np.linalg.norm(left[:2] - r[:2]))
    return math.degrees(math.atan2(float(r[2] - left[2]), span)) if span > 0 else 0.0


def pitch_deg(mesh: Mesh) -> float:
    """Positive when the head tilts up (chin forward, towards the camera)."""
    p = mesh.points
    top, chin = p[FOREHEAD], p[CHIN]
    span = float(np.linalg.norm(chin[:2] - top[:2]))
    angle = math.degrees(math.atan2(float(top[2] - chin[2]), span)) if span > 0 else 0.0
    return angle - PITCH_OFFSET_DEG


def _aspect(p: np.ndarray, spec: dict) -> float:
    width = float(np.linalg.norm(p[spec["outer"], :2] - p[spec["inner"], :2]))
    gap = float(np.linalg.norm(p[spec["upper"], :2] - p[spec["lower"], :2]))
    return gap / width if width > 0 else 0.0


def eye_openness(mesh: Mesh) -> float:
    """Lid gap over eye width, the smaller of both eyes (~0.3 open, <0.1 closed)."""
    return min(_aspect(mesh.points, EYE_R), _aspect(mesh.points, EYE_L))


def mouth_openness(mesh: Mesh) -> float:
    """Inner-lip gap over mouth width (~0 closed, >0.3 wide open)."""
    p = mesh.points
    width = float(np.linalg.norm(p[MOUTH["left"], :2] - p[MOUTH["right"], :2]))
    gap = float(np.linalg.norm(p[MOUTH["upper"], :2] - p[MOUTH["lower"], :2]))
    return gap / width if width > 0 else 0.0


def face_oval(mesh: Mesh) -> np.ndarray:
    return mesh.points[list(FACE_OVAL), :2]
