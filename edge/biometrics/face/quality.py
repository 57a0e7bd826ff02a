"""Face image quality, modelled on ISO/IEC 29794-5 and BSI OFIQ: pure functions over a frame and landmarks.

Each component has a raw measurement and a 0-100 score from a documented piecewise-linear mapping
(`SCORING`); every mapping puts 50 where this project draws the default line, so the default
threshold for a gated component is 50 (see docs/faces.md for the why of each anchor). `acceptable`
means every gated component reaches its threshold; `score` is the mean of the gated scores, used to
rank passing frames during auto-capture.

The score is this project's own (`ALGORITHM_ID`): its components follow OFIQ's list and ISO/IEC 29794-5's
definitions, but it is not OFIQ and its numbers are not OFIQ's. Results, events and schemas carry the id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.biometrics.face import landmarks as lm
from edge.biometrics.face.detection import DetectedFace
from edge.biometrics.face.feedback import ordered

ALGORITHM = "borderpost-faceq"      # OFIQ-style, not OFIQ: a different number must not pass for an OFIQ score
ALGORITHM_VERSION = 1               # raised whenever a component, a mapping or a default threshold changes
ALGORITHM_ID = f"{ALGORITHM}/{ALGORITHM_VERSION}"

Anchors = Sequence[tuple[float, float]]   # (raw, score) points, raw ascending


@dataclass(frozen=True)
class Scoring:
    anchors: Anchors
    low_key: str | None      # feedback when the raw value is below the passing band
    high_key: str | None     # ... above it
    gated: bool = True       # takes part in `acceptable` by default
    absolute: bool = False   # score |raw| (angles)


SCORING: dict[str, Scoring] = {
    "single_face": Scoring(((0, 0), (1, 100), (2, 0)), "face.none", "face.multiple"),
    # pixels between eye centres; ICAO asks 90 for a printed portrait, the matcher needs far fewer
    "inter_eye_distance": Scoring(((20, 0), (40, 50), (70, 100)), "face.move_closer", None),
    # face-box height / frame height
    "head_size": Scoring(((0.08, 0), (0.18, 50), (0.3, 100), (0.65, 100), (0.8, 50), (0.95, 0)),
                         "face.move_closer", "face.move_back"),
    # smallest gap between the face box and a frame border, in face heights (negative: face is cut)
    "crop_margins": Scoring(((-0.05, 0), (0.05, 50), (0.2, 100)), "face.center", None),
    "yaw": Scoring(((0, 100), (15, 50), (35, 0)), None, "face.look_straight", absolute=True),
    "pitch": Scoring(((0, 100), (15, 50), (35, 0)), None, "face.look_straight", absolute=True),
    "roll": Scoring(((0, 100), (10, 50), (30, 0)), None, "face.straighten_head", absolute=True),
    # lid gap / eye width (smaller eye); closed ~0.08, open 0.23-0.33 on the shared photos
    "eyes_open": Scoring(((0.08, 0), (0.15, 50), (0.22, 100)), "face.open_eyes", None),
    # inner-lip gap / mouth width; a smile with teeth shows ~0.15-0.28
    "mouth_closed": Scoring(((0.0, 100), (0.2, 100), (0.35, 50), (0.6, 0)), None, "face.close_mouth"),
    # variance of the Laplacian of the face at a fixed scale (face width 128 px)
    "sharpness": Scoring(((10, 0), (40, 50), (150, 100)), "face.hold_still", None),
    # mean luminance of the face, 0-1
    "luminance_mean": Scoring(((0.08, 0), (0.2, 50), (0.35, 100), (0.7, 100), (0.82, 50), (0.95, 0)),
                              "face.more_light", "face.less_light"),
    # standard deviation of the face's luminance, 0-1 (a flat, washed-out face has little)
    "luminance_variance": Scoring(((0.01, 0), (0.04, 50), (0.1, 100)), "face.even_light", None),
    # fraction of face pixels below 10% / above 97% luminance
    "under_exposure": Scoring(((0, 100), (0.15, 50), (0.4, 0)), None, "face.more_light"),
    "over_exposure": Scoring(((0, 100), (0.08, 50), (0.25, 0)), None, "face.less_light"),
    # entropy of the face's luminance histogram, bits
    "dynamic_range": Scoring(((2.5, 0), (4.5, 50), (6.5, 100)), "face.even_light", None),
    # darker half over brighter half (split at the nose line), 0-1
    "illumination_uniformity": Scoring(((0.3, 0), (0.55, 50), (0.85, 100)), "face.even_light", None),
    # mean gradient magnitude beside the head; the kiosk's background is fixed at installation: not gated
    "background_uniformity": Scoring(((0, 100), (12, 50), (40, 0)), None, "face.plain_background",
                                     gated=False),
}

COMPONENTS: tuple[str, ...] = tuple(SCORING)
DEFAULT_THRESHOLDS: dict[str, float] = {k: (50.0 if s.gated else 0.0) for k, s in SCORING.items()}
# components that exist without a face (a black frame still reports its exposure)
FRAME_COMPONENTS = ("single_face", "luminance_mean", "luminance_variance", "under_exposure", "over_exposure",
                    "dynamic_range")


def score(anchors: Anchors, raw: float) -> float:
    """Piecewise-linear 0-100 from (raw, score) anchors; flat outside them."""
    xs = [a[0] for a in anchors]
    ys = [a[1] for a in anchors]
    return float(np.clip(np.interp(raw, xs, ys), 0.0, 100.0))


@dataclass(frozen=True)
class Component:
    name: str
    raw: float | None
    score: float
    threshold: float

    @property
    def gated(self) -> bool:
        return self.threshold > 0

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold

    def feedback(self) -> str | None:
        """The message key that would fix this component, or None when it passes."""
        if self.passed:
            return None
        s = SCORING[self.name]
        if self.raw is None:
            return s.low_key or s.high_key
        raw = abs(self.raw) if s.absolute else self.raw
        best = max(a[1] for a in s.anchors)
        peak = next(a[0] for a in s.anchors if a[1] == best)
        return s.low_key if raw < peak and s.low_key else (s.high_key or s.low_key)

    def to_dict(self) -> dict[str, object]:
        return {"raw": None if self.raw is None else round(float(self.raw), 4), "score": round(self.score, 1),
                "threshold": self.threshold, "passed": self.passed}


def components_from(raw: dict[str, float | None], thresholds: dict[str, float]) -> dict[str, Component]:
    out = {}
    for name, value in raw.items():
        s = SCORING[name]
        sc = 0.0 if value is None else score(s.anchors, abs(value) if s.absolute else value)
        out[name] = Component(name, value, sc, float(thresholds.get(name, DEFAULT_THRESHOLDS[name])))
    return out


def verdict(components: dict[str, Component]) -> tuple[bool, float, tuple[str, ...]]:
    """(acceptable, overall score, ordered feedback keys)."""
    gated = [c for c in components.values() if c.gated]
    acceptable = bool(gated) and all(c.passed for c in gated)
    overall = float(np.mean([c.score for c in gated])) if gated else 0.0
    keys = {k for c in gated if (k := c.feedback())}
    return acceptable, round(overall, 1), ordered(keys)


# --- raw measurements (pure) -------------------------------------------------------------------------


def luminance(bgr: np.ndarray) -> np.ndarray:
    """Rec. 601 luma, 0-1 float32."""
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0


def photometric(y: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float | None]:
    """Luminance mean/spread, exposure tails and histogram entropy over `mask` (or the whole frame)."""
    vals = y[mask] if mask is not None else y.ravel()
    if vals.size == 0:
        return dict.fromkeys(("luminance_mean", "luminance_variance", "under_exposure", "over_exposure",
                              "dynamic_range"))
    hist = np.bincount(np.clip((vals * 255).astype(np.int32), 0, 255), minlength=256).astype(np.float64)
    p = hist[hist > 0] / vals.size
    return {
        "luminance_mean": float(vals.mean()),
        "luminance_variance": float(vals.std()),
        "under_exposure": float((vals < 0.1).mean()),
        "over_exposure": float((vals > 0.97).mean()),
        "dynamic_range": float(-(p * np.log2(p)).sum()),
    }


def face_mask(shape: tuple[int, int], oval: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(oval.astype(np.int32)), 1)
    return mask.astype(bool)


def sharpness(y: np.ndarray, box: tuple[float, float, float, float], width: int = 128) -> float:
    """Variance of the Laplacian inside the face box, resampled so the face is `width` px wide."""
    x, yy, w, h = box
    h_img, w_img = y.shape
    x0, y0 = max(0, int(x)), max(0, int(yy))
    x1, y1 = min(w_img, math.ceil(x + w)), min(h_img, math.ceil(yy + h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    crop = y[y0:y1, x0:x1]
    scale = width / max(w, 1.0)
    crop = cv2.resize(crop, (max(4, round(crop.shape[1] * scale)), max(4, round(crop.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(crop * 255.0, cv2.CV_32F).var())


def head_box(face: DetectedFace, mesh: lm.Mesh | None) -> tuple[float, float, float, float]:
    """The detector's box joined with the mesh's face oval: the mesh extends past a frame border that
    cuts the face, where the detector's box is clipped to it."""
    if mesh is None:
        return face.box
    oval = lm.face_oval(mesh)
    x, y, w, h = face.box
    x0, y0 = min(x, float(oval[:, 0].min())), min(y, float(oval[:, 1].min()))
    x1, y1 = max(x + w, float(oval[:, 0].max())), max(y + h, float(oval[:, 1].max()))
    return (x0, y0, x1 - x0, y1 - y0)


def crop_margin(box: tuple[float, float, float, float], shape: tuple[int, int]) -> float:
    x, y, w, h = box
    hh, ww = shape
    gaps = (x, y, ww - (x + w), hh - (y + h))
    return float(min(gaps) / max(h, 1.0))


def illumination_uniformity(y: np.ndarray, mask: np.ndarray, mesh: lm.Mesh) -> float | None:
    """Mean luminance of the darker face half over the brighter (halves split on the nose line)."""
    a, b = lm.eye_centers(mesh)
    axis = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
    nose = mesh.points[lm.NOSE_TIP, :2]
    ys, xs = np.nonzero(mask)
    side = (xs - nose[0]) * axis[0] + (ys - nose[1]) * axis[1]
    vals = y[ys, xs]
    left, right = vals[side < 0], vals[side >= 0]
    if left.size < 10 or right.size < 10:
        return None
    lo, hi = sorted((float(left.mean()), float(right.mean())))
    return lo / hi if hi > 0 else None


def background_uniformity(y: np.ndarray, box: tuple[float, float, float, float]) -> float | None:
    """Mean gradient magnitude (0-255 scale) beside and above the head, on a 160 px wide copy."""
    h_img, w_img = y.shape
    scale = 160.0 / w_img
    small = cv2.resize(y, (160, max(2, round(h_img * scale))), interpolation=cv2.INTER_AREA) * 255.0
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy) / 4.0
    x, yy, w, h = (v * scale for v in box)
    mask = np.zeros(small.shape, dtype=bool)
    bottom = int(min(small.shape[0], yy + h))
    mask[:bottom, :] = True                                       # down to the chin only (no shoulders)
    mask[max(0, int(yy - 0.6 * h)):bottom, max(0, int(x - 0.4 * w)):int(x + 1.4 * w)] = False  # the head
    mask[:2, :] = mask[-2:, :] = False
    mask[:, :2] = mask[:, -2:] = False
    return float(mag[mask].mean()) if mask.sum() >= 50 else None


def measure(bgr: np.ndarray, faces: list[DetectedFace], face: DetectedFace | None,
            mesh: lm.Mesh | None, face_count: int) -> dict[str, float | None]:
    """Every component's raw value; components that need what is missing (a face, a mesh) are None."""
    y = luminance(bgr)
    shape = y.shape
    raw: dict[str, float | None] = {"single_face": float(face_count)}
    if face is None:
        raw.update(photometric(y))
        return raw
    mask = face_mask(shape, lm.face_oval(mesh)) if mesh is not None else None
    if mask is None or mask.sum() < 20:
        x, yy, w, h = face.box
        mask = np.zeros(shape, dtype=bool)
        mask[max(0, int(yy)):int(yy + h), max(0, int(x)):int(x + w)] = True
    ied = lm.inter_eye_distance(mesh) if mesh is not None else float(np.linalg.norm(face.points[1] - face.points[0]))
    raw.update({
        "inter_eye_distance": ied,
        "head_size": face.box[3] / shape[0],
        "crop_margins": crop_margin(head_box(face, mesh), shape),
        "yaw": lm.yaw_deg(mesh) if mesh else None,
        "pitch": lm.pitch_deg(mesh) if mesh else None,
        "roll": lm.roll_deg(mesh) if mesh else None,
        "eyes_open": lm.eye_openness(mesh) if mesh else None,
        "mouth_closed": lm.mouth_openness(mesh) if mesh else None,
        "sharpness": sharpness(y, face.box),
    })
    raw.update(photometric(y, mask))
    raw["illumination_uniformity"] = illumination_uniformity(y, mask, mesh) if mesh else None
    raw["background_uniformity"] = background_uniformity(y, face.box)
    return raw
