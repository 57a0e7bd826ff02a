"""`FaceAnalyzer`: load the face models once, then score quality and verify 1:1, errors as values."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.biometrics.face import imageio, models, runtimes
from edge.biometrics.face import landmarks as lm
from edge.biometrics.face import quality as q
from edge.biometrics.face.detection import PRECISE, DetectedFace, Detector, comparable_faces
from edge.biometrics.face.errors import FaceError
from edge.biometrics.face.matching import DEFAULT_THRESHOLD, TARGET_FMR, Embedder, similarity


class FaceConfig(BaseModel):
    """Typed face settings; `[quality.face]` in the appliance config overrides `thresholds`."""

    model_config = ConfigDict(extra="forbid")

    models_dir: Path | None = None            # None: $BORDERPOST_MODELS_DIR, else /var/lib/borderpost/models
    tflite_runtime: Literal["litert", "tflite-runtime"] = "litert"
    onnx_runtime: Literal["onnxruntime", "opencv"] = "onnxruntime"
    threads: int = Field(default=1, ge=1, le=8)
    detector_score: float = Field(default=0.7, gt=0, lt=1)
    comparable_face_ratio: float = Field(default=0.5, gt=0, le=1)   # a second face this big counts
    match_threshold: float = Field(default=DEFAULT_THRESHOLD, ge=-1, le=1)
    thresholds: dict[str, float] = {}

    @field_validator("thresholds")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        for k, val in v.items():
            if k not in q.SCORING:
                raise ValueError(f"unknown quality component {k!r} (known: {', '.join(q.COMPONENTS)})")
            if not 0 <= val <= 100:
                raise ValueError(f"{k}: threshold must be 0-100 (0 = informative only)")
        return v

    @classmethod
    def from_quality_table(cls, table: dict[str, float], **kw: Any) -> FaceConfig:
        """From the appliance config's `[quality.face]` table (component thresholds + match_threshold)."""
        table = dict(table)
        if "match_threshold" in table:
            kw["match_threshold"] = table.pop("match_threshold")
        return cls(thresholds=table, **kw)

    def effective_thresholds(self) -> dict[str, float]:
        return {**q.DEFAULT_THRESHOLDS, **self.thresholds}


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]
    confidence: float
    landmarks: tuple[tuple[float, float], ...]   # 5 points: eyes, nose, mouth corners

    def to_dict(self) -> dict[str, Any]:
        return {"box": [round(v, 1) for v in self.box], "confidence": round(self.confidence, 3),
                "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks]}


@dataclass(frozen=True)
class FaceQualityReport:
    error: FaceError | None
    acceptable: bool
    score: float
    components: dict[str, q.Component] = field(default_factory=dict)
    feedback: tuple[str, ...] = ()
    face_count: int = 0
    face: FaceBox | None = None
    image_size: tuple[int, int] = (0, 0)
    detail: str = ""
    algorithm: str = q.ALGORITHM_ID

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.error.value if self.error else None, "detail": self.detail,
            "algorithm": self.algorithm,
            "acceptable": self.acceptable, "score": self.score, "feedback": list(self.feedback),
            "face_count": self.face_count, "face": self.face.to_dict() if self.face else None,
            "image_size": list(self.image_size),
            "components": {k: c.to_dict() for k, c in self.components.items()},
        }

    @classmethod
    def failed(cls, error: FaceError, detail: str) -> FaceQualityReport:
        keys = ("face.none",) if error is FaceError.NO_FACE else ()
        return cls(error=error, acceptable=False, score=0.0, feedback=keys, detail=detail)


@dataclass(frozen=True)
class FaceMatch:
    score: float | None
    threshold: float
    match: bool
    quality_live: FaceQualityReport
    quality_portrait: FaceQualityReport
    error: FaceError | None = None
    which: Literal["live", "portrait"] | None = None   # the image the error is about
    target_fmr: float = TARGET_FMR

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": None if self.score is None else round(self.score, 4), "threshold": self.threshold,
            "match": self.match, "target_fmr": self.target_fmr,
            "error": self.error.value if self.error else None, "which": self.which,
            "quality_live": self.quality_live.to_dict(), "quality_portrait": self.quality_portrait.to_dict(),
        }


@dataclass(frozen=True)
class _Analysis:
    report: FaceQualityReport
    image: np.ndarray | None = None
    face: DetectedFace | None = None


class FaceAnalyzer:
    """Loads detector, mesh and recogniser once (raises ModelError / RuntimeUnavailable if it cannot).

    Calls are serialised by a lock: the OpenCV nets and the interpreter are not re-entrant.
    """

    def __init__(self, config: FaceConfig | None = None) -> None:
        self.config = config or FaceConfig()
        self.models_dir = models.models_dir(self.config.models_dir)
        self.thresholds = self.config.effective_thresholds()
        cv = runtimes.onnx_runtime(self.config.onnx_runtime)
        det_path = models.check_file("detector", self.models_dir)
        mesh_path = models.check_file("landmarks", self.models_dir)
        rec_path = models.check_file("recogniser", self.models_dir)
        cv.set_threads(self.config.threads)
        self.detector = Detector(cv.load_detector(str(det_path), self.config.detector_score))
        self.mesh = lm.LandmarkModel(runtimes.load_tflite(self.config.tflite_runtime, str(mesh_path),
                                                          self.config.threads))
        self.embedder = Embedder(cv.load_recogniser(str(rec_path)))
        self._lock = threading.Lock()

    # -- quality ---------------------------------------------------------------------------------------

    def _analyse(self, image: object, precise: bool = False) -> _Analysis:
        arr = imageio.check_array(image)
        if isinstance(arr, imageio.ImageLoadError):
            return _Analysis(FaceQualityReport.failed(arr.error, arr.detail))
        size = (int(arr.shape[1]), int(arr.shape[0]))
        faces = self.detector.detect(arr, PRECISE if precise else None)
        comparable = comparable_faces(faces, self.config.comparable_face_ratio)
        face = comparable[0] if comparable else None
        mesh = self.mesh.run(arr, face) if face is not None else None
        raw = q.measure(arr, faces, face, mesh, len(comparable))
        comps = q.components_from(raw, self.thresholds)
        acceptable, overall, feedback = q.verdict(comps)
        error, detail = None, ""
        if face is None:
            error, detail, overall, feedback = FaceError.NO_FACE, "no face found", 0.0, ("face.none",)
        elif len(comparable) > 1:
            error, detail = FaceError.MULTIPLE_FACES, f"{len(comparable)} faces of comparable size"
        box = None if face is None else FaceBox(
            face.box, face.score, tuple((float(x), float(y)) for x, y in face.points))
        report = FaceQualityReport(error, acceptable and error is None, overall, comps, feedback,
                                   len(comparable), box, size, detail)
        return _Analysis(report, arr, face)

    def faces(self, image: np.ndarray, sides: tuple[int, ...] | None = None) -> list[DetectedFace]:
        """Every face the detector finds (largest first), for callers that choose among them (a data page:
        portrait, ghost image); under the analyzer's lock, as the networks are not re-entrant."""
        with self._lock:
            return list(self.detector.detect(image, sides))

    def quality(self, image: np.ndarray) -> FaceQualityReport:
        """Quality of the largest face in a BGR frame, with feedback keys (see `FEEDBACK_KEYS`)."""
        with self._lock:
            return self._analyse(image).report

    # -- matching --------------------------------------------------------------------------------------

    def verify(self, live: np.ndarray, portrait: np.ndarray,
               live_multiple: Literal["error", "largest"] = "error") -> FaceMatch:
        """Compare the live face with the document portrait at the calibrated threshold.

        A second face of comparable size in the live frame is an error by default (whose face is it?);
        in the portrait the largest face is used (a data page also carries a smaller ghost image).
        `live_multiple="largest"` treats the live image like a portrait (offline evaluation of photos).
        """
        thr = self.config.match_threshold
        with self._lock:
            a, b = self._analyse(live, precise=True), self._analyse(portrait, precise=True)
            for which, an, policy in (("live", a, live_multiple), ("portrait", b, "largest")):
                err = an.report.error
                if err is FaceError.MULTIPLE_FACES and policy == "largest" and an.face is not None:
                    continue
                if err is not None or an.face is None:
                    return FaceMatch(None, thr, False, a.report, b.report, err or FaceError.NO_FACE,
                                     which)  # type: ignore[arg-type]
            assert a.image is not None and b.image is not None and a.face and b.face
            score = similarity(self.embedder.embed(a.image, a.face), self.embedder.embed(b.image, b.face))
        return FaceMatch(score, thr, score >= thr, a.report, b.report)

    def embedding(self, image: np.ndarray) -> tuple[np.ndarray | None, FaceQualityReport]:
        """The largest face's embedding (calibration, a chip's DG2 portrait), with the image's quality."""
        with self._lock:
            an = self._analyse(image, precise=True)
            if an.face is None or an.image is None:
                return None, an.report
            return self.embedder.embed(an.image, an.face), an.report
