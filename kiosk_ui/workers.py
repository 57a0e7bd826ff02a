"""Device work for the kiosk's face and fingerprint steps, off the web server's threads.

One worker thread per kiosk session step: the face worker runs `auto_capture` (live feedback into the
session, the preview frame into the hub), then compares the best frame with the document portrait;
the finger worker runs one capture attempt per try. Results go back into the session under the hub's
lock; the session's state machine decides what happens next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from drivers.contract import CaptureResult, Device, DeviceKind
from edge.events.model import FaceResult, FingerResult
from edge.session import Session, SessionError, Step

# How long the face step waits for the document portrait still being made (a page camera's provider gives
# up after its own 3 s; it started when the document was read, so it is usually long done).
PORTRAIT_WAIT_S = 5.0

log = logging.getLogger("borderpost.ui.workers")


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


class _Tap:
    """A camera seen through the hub: every frame also becomes the kiosk's preview."""

    def __init__(self, device: Device, hub: Any, preview_every: int = 2) -> None:
        self.device = device
        self.hub = hub
        self.every = preview_every

    def stream(self, duration: float | None = None) -> Iterator[CaptureResult]:
        for i, result in enumerate(self.device.stream(duration=duration)):
            if result.ok and result.sample is not None and i % self.every == 0:
                self.hub.last_frame = jpeg(result.sample.data, 70)
            yield result


class Workers:
    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self._running: dict[str, threading.Thread] = {}
        self._analyzer: Any = None
        self._analyzer_error: str | None = None
        self._lock = threading.Lock()

    def analyzer(self) -> Any:
        """The face analyzer, loaded once; None (with the reason logged) when its models are missing."""
        with self._lock:
            if self._analyzer is None and self._analyzer_error is None:
                try:
                    from edge.biometrics.face import FaceAnalyzer, FaceConfig

                    table = self.hub.cfg.quality.get("face", {})
                    self._analyzer = FaceAnalyzer(FaceConfig.from_quality_table(table))
                except Exception as exc:
                    self._analyzer_error = f"{type(exc).__name__}: {exc}"
                    log.error("face analysis unavailable: %s", self._analyzer_error)
            return self._analyzer

    def ensure(self, s: Session) -> None:
        """Start the worker for the session's current step unless one already runs."""
        key = f"{s.code}:{s.step}"
        t = self._running.get(key)
        if t is not None and t.is_alive():
            return
        target = self._face if s.step is Step.FACE else self._finger
        t = threading.Thread(target=self._guard, args=(target, s), name=f"ui-{s.step}", daemon=True)
        self._running[key] = t
        t.start()

    def _guard(self, target: Any, s: Session) -> None:
        try:
            target(s)
        except SessionError:
            pass  # the traveller cancelled or the step changed while the device worked
        except Exception:
            log.exception("kiosk worker failed")
            with self.hub.lock:
                kind = "face" if s.step is Step.FACE else "finger"
                s.device_unavailable(kind, self.hub.clock())
                self.hub._after_change(s)

    def _still(self, s: Session, step: Step, version: int | None = None) -> bool:
        return s.step is step and not s.finished and (version is None or s.version == version)

    # ---------------------------------------------------------------- face
    def _face(self, s: Session) -> None:
        hub = self.hub
        cam = hub.devices.first(DeviceKind.CAMERA, exclude=hub.cfg.policy.portrait_camera)  # not the page camera
        analyzer = self.analyzer()
        if cam is None or cam.device is None or analyzer is None:
            with hub.lock:
                s.device_unavailable("face", hub.clock())
                hub._after_change(s)
            return
        from edge.biometrics.face import AutoCaptureResult, auto_capture

        hub.last_frame = None        # never show the previous traveller's picture
        while self._still(s, Step.FACE):
            result = None
            for item in auto_capture(_Tap(cam.device, hub), analyzer, timeout=hub.options.face_attempt_s):
                if not self._still(s, Step.FACE):
                    return
                if isinstance(item, AutoCaptureResult):
                    result = item
                else:
                    with hub.lock:
                        if self._still(s, Step.FACE):
                            s.face_feedback(tuple(item.feedback[:2]))
                            hub.changed.notify_all()
            if result is None:
                return
            with hub.lock:
                if not self._still(s, Step.FACE):
                    return
                if not result.ok or result.image is None:
                    s.face_failed(tuple(result.last_feedback[:2]), hub.clock())
                    hub._after_change(s)
                    continue
            face = self._compare(s, analyzer, result)
            with hub.lock:
                if not self._still(s, Step.FACE):
                    return
                face_box = result.report.face.box if result.report is not None and result.report.face else None
                hub.images.setdefault(s.code, {})["face_live.jpg"] = jpeg(crop_face(result.image, face_box), 90)
                s.face_captured(face, hub.clock())
                hub._after_change(s)

    def _compare(self, s: Session, analyzer: Any, result: Any) -> FaceResult:
        report = result.report
        quality = round(float(report.score), 1) if report is not None else None
        portrait = self.hub.portrait_of(s.code, timeout=PORTRAIT_WAIT_S)
        if portrait is None:      # the page camera's reason (e.g. page.other_document) goes into the record
            why = getattr(self.hub.portrait_provider, "reason", None)
            reason = why(s.document) if callable(why) else None
            return FaceResult(quality=quality, acceptable=True, feedback=[reason] if reason else [])
        self.hub.images.setdefault(s.code, {})["face_portrait.jpg"] = jpeg(portrait, 90)
        m = analyzer.verify(result.image, portrait)
        if m.score is None:
            return FaceResult(quality=quality, acceptable=True, threshold=m.threshold, match=None,
                              feedback=list(m.quality_portrait.feedback[:2]))
        return FaceResult(quality=quality, acceptable=True, match_score=round(float(m.score), 4),
                          threshold=m.threshold, match=bool(m.match))

    # ---------------------------------------------------------------- fingerprints
    def _finger(self, s: Session) -> None:
        hub = self.hub
        dev = hub.devices.first(DeviceKind.FINGERPRINT)
        if dev is None or dev.device is None:
            with hub.lock:
                s.device_unavailable("finger", hub.clock())
                hub._after_change(s)
            return
        from edge.biometrics.finger import capture_finger

        while self._still(s, Step.FINGERS):
            finger = s.next_finger()
            if finger is None:
                return
            cap = capture_finger(dev.device, finger, timeout=hub.options.finger_attempt_s, retries=0)
            q = cap.quality
            with hub.lock:
                if not self._still(s, Step.FINGERS) or s.next_finger() != finger:
                    return
                if cap.image is not None and q is not None:
                    hub.images.setdefault(s.code, {})[f"finger_{finger}.png"] = png(cap.image)
                result = FingerResult(finger=finger, quality=round(float(q.score), 1) if q else None,
                                      acceptable=bool(q and q.acceptable and cap.ok),
                                      feedback=list(q.feedback[:2]) if q else ["finger.place_finger"])
                s.finger_captured(result, hub.clock())
                hub._after_change(s)
