"""The face step's capture loop: score each frame of a camera stream, say what to change, keep the best.

It drives the camera, so it lives in the lane; the scoring (edge.biometrics.face) never touches a device.

`auto_capture` is a generator the kiosk iterates: one `LiveFrame` per analysed frame (feedback keys to
show now), then one `AutoCaptureResult` (the best acceptable frame, or why there is none). Frames that
arrive while one is being analysed are dropped, so the feedback is never behind the traveller.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from drivers.contract import Device, ErrorCode
from edge.biometrics.face.analyzer import FaceAnalyzer, FaceQualityReport


@dataclass(frozen=True)
class LiveFrame:
    index: int                      # frames analysed so far (1-based)
    captured_mono: float            # the camera's timestamp of this frame
    report: FaceQualityReport
    best_score: float | None        # best acceptable score so far

    @property
    def feedback(self) -> tuple[str, ...]:
        return self.report.feedback

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "captured_mono": self.captured_mono, "best_score": self.best_score,
                "report": self.report.to_dict()}


@dataclass(frozen=True)
class AutoCaptureResult:
    ok: bool
    image: np.ndarray | None        # the chosen BGR frame (not in to_dict)
    report: FaceQualityReport | None
    frames: int                     # frames analysed
    elapsed: float
    error: ErrorCode | None = None
    detail: str = ""
    last_feedback: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "frames": self.frames, "elapsed": round(self.elapsed, 3),
                "error": self.error.value if self.error else None, "detail": self.detail,
                "last_feedback": list(self.last_feedback),
                "report": self.report.to_dict() if self.report else None}


def auto_capture(device: Device, analyzer: FaceAnalyzer, timeout: float = 10.0, settle: float = 0.6,
                 good_enough: float = 90.0) -> Iterator[LiveFrame | AutoCaptureResult]:
    """Analyse frames until `timeout`; once a frame passes, look `settle` seconds more for a better one
    (or stop at once on a score >= `good_enough`). The last item yielded is the `AutoCaptureResult`."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    best: tuple[float, np.ndarray, FaceQualityReport] | None = None
    stop_at = deadline
    frames = 0
    last: FaceQualityReport | None = None
    last_error: tuple[ErrorCode | None, str] = (None, "")
    for result in device.stream(duration=timeout):
        if not result.ok or result.sample is None:
            last_error = (result.error, result.detail)
        else:
            frames += 1
            image = result.sample.data
            report = analyzer.quality(image)
            last = report
            if report.acceptable and (best is None or report.score > best[0]):
                if best is None:
                    stop_at = min(deadline, time.monotonic() + settle)
                best = (report.score, np.array(image, copy=True), report)
            yield LiveFrame(frames, result.sample.captured_mono, report, best[0] if best else None)
            if best is not None and best[0] >= good_enough:
                break
        if time.monotonic() >= stop_at:
            break
    elapsed = time.monotonic() - t0
    if best is not None:
        yield AutoCaptureResult(True, best[1], best[2], frames, elapsed)
        return
    feedback = last.feedback if last else ()
    if frames == 0:
        code, detail = last_error
        yield AutoCaptureResult(False, None, None, 0, elapsed, code or ErrorCode.TIMEOUT,
                                detail or "no frame from the camera", feedback)
        return
    no_face = last is None or last.face is None
    yield AutoCaptureResult(False, None, last, frames, elapsed,
                            ErrorCode.NO_SAMPLE if no_face else ErrorCode.LOW_QUALITY,
                            "no face seen" if no_face else "no frame reached the quality thresholds", feedback)


def run_auto_capture(device: Device, analyzer: FaceAnalyzer, timeout: float = 10.0,
                     **kw: Any) -> AutoCaptureResult:
    """`auto_capture` without the per-frame feedback: just the outcome."""
    out: AutoCaptureResult | None = None
    for item in auto_capture(device, analyzer, timeout, **kw):
        if isinstance(item, AutoCaptureResult):
            out = item
    assert out is not None
    return out
