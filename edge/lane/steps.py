"""The lane's device work for the chip, face and fingerprint steps, off the web server's threads.

The kiosk runs one worker thread per session step (`ensure`); auto mode calls `run` in its own thread
and waits. The face step runs `auto_capture` (live feedback into the session, the preview frame into the
lane), then compares the best frame with the document portrait; the finger step runs one capture
attempt per try and waits for the finger to leave the sensor before the next; the chip step calls the
registered chip reader. Results go back into the session under the lane's lock; the session's state
machine decides what happens next.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from drivers.contract import CaptureResult, Device, DeviceKind
from edge.devices import OpenDevice
from edge.events.model import FaceResult
from edge.heap import release_free_heap
from edge.lane.media import crop_face, jpeg, png
from edge.lane.session import Session, SessionError, Step

# How long the face step waits for the document portrait still being made (a page camera's provider gives
# up after its own 3 s; it started when the document was read, so it is usually long done).
PORTRAIT_WAIT_S = 5.0
STOP_WAIT_S = 10.0       # how long stopping waits for device work and model loading to end (the unit allows 20 s)

log = logging.getLogger("borderpost.lane.steps")

# The chip step: (the chip reader device, the MRZ read optically) -> the chip result the chip checks judge.
ChipReader = Callable[[OpenDevice, str], Any]
_chip_reader: ChipReader | None = None


def register_chip_reader(reader: ChipReader | None) -> None:
    """Install the chip step (e.g. with the post's CSCA store); the lane runs it when a `chip` device is configured."""
    global _chip_reader
    _chip_reader = reader


def _edge_chip_reader(csca_store: Any = None) -> ChipReader | None:
    """edge.chip's reader with the post's CSCA store (None: passive authentication cannot check the issuer)."""
    try:
        from edge.chip.step import read_chip
    except ImportError:
        return None
    return lambda dev, mrz: read_chip(dev.device, mrz, csca_store)


def chip_reader(csca_store: Any = None) -> ChipReader | None:
    return _chip_reader or _edge_chip_reader(csca_store)


def load_csca_store(cfg: Any) -> Any:
    """The `[chip]` trust anchors loaded once at start; None when none are configured. ValueError names the file."""
    chip = getattr(cfg, "chip", None)
    if chip is None or not (chip.csca or chip.crl):
        return None
    from edge.chip.step import load_csca_store as load
    from edge.lane.checks import CheckError

    try:
        return load(chip.csca, chip.crl)
    except ValueError as exc:      # stops the station's start in one line, as a check that cannot be set up does
        raise CheckError(f"chip: {exc}") from exc


def chip_portrait(result: Any) -> np.ndarray | None:
    """The chip's DG2 face (when it was read): the better reference for the face match than the printed page.

    DG2 is JPEG or JPEG 2000: edge.chip decodes it with its own size limit (the image guard refuses JPEG 2000).
    """
    face = getattr(result, "face", None)
    if face is None:
        return None
    from edge.chip.errors import MalformedData
    from edge.chip.face import decode_face

    try:
        return decode_face(face)
    except MalformedData:
        return None


def chip_device(devices: Any) -> OpenDevice | None:
    """The configured chip reader: a device named `chip` or of kind `chip`."""
    for d in devices.devices.values():
        if d.device is not None and (d.name == "chip" or str(d.device.kind) == "chip"):
            return d
    return None


class _Tap:
    """A camera seen through the lane: every other frame also becomes the kiosk's preview."""

    def __init__(self, device: Device, lane: Any, preview_every: int = 2) -> None:
        self.device = device
        self.lane = lane
        self.every = preview_every

    def stream(self, duration: float | None = None) -> Iterator[CaptureResult]:
        for i, result in enumerate(self.device.stream(duration=duration)):
            if result.ok and result.sample is not None and i % self.every == 0:
                self.lane.last_frame = jpeg(result.sample.data, 70)
            yield result


class Steps:
    def __init__(self, lane: Any) -> None:
        self.lane = lane
        self._running: dict[str, threading.Thread] = {}
        self._warming: threading.Thread | None = None
        self._analyzer: Any = None
        self._analyzer_error: str | None = None
        self._lock = threading.Lock()

    def analyzer(self) -> Any:
        """The face analyzer, loaded once; None (with the reason logged) when its models are missing."""
        with self._lock:
            return self._load_analyzer()

    def _load_analyzer(self) -> Any:
        if self._analyzer is None and self._analyzer_error is None:
            try:
                from edge.biometrics.face import FaceAnalyzer, FaceConfig

                table = self.lane.cfg.quality.get("face", {})
                self._analyzer = FaceAnalyzer(FaceConfig.from_quality_table(table))
            except Exception as exc:
                self._analyzer_error = f"{type(exc).__name__}: {exc}"
                log.error("face analysis unavailable: %s", self._analyzer_error)
        return self._analyzer

    def start_warm_up(self) -> None:
        """`warm_up` on its own thread: the station is ready meanwhile."""
        self._warming = threading.Thread(target=self.warm_up, name="warm-up", daemon=True)
        self._warming.start()

    def join(self, timeout: float = STOP_WAIT_S) -> list[str]:
        """Wait for the model loading and step threads to end; the names of those still running at the timeout.

        Why: a daemon thread still inside a native library (OpenCV, ONNX Runtime, LiteRT) when the interpreter
        exits is ended by the C runtime while the library's handler is on its stack, and the process aborts
        ('terminate called without an active exception'): a stop must let them finish first."""
        deadline = time.monotonic() + timeout
        threads = [t for t in (self._warming, *self._running.copy().values()) if t is not None]  # copy: atomic
        for t in threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]

    def warm_up(self) -> None:
        """Load what the post's crossings need before the first traveller: NFIQ 2 first, the face models second.

        Why this order: making NFIQ 2's extractor parses its random forest from text, a passing peak of about
        160 MB; taken while the process is small, it is not added on top of the face models. A face step that
        starts meanwhile waits for this (the same lock), so the two never load at once.
        """
        rules = self.lane.auto_rules      # what this post's devices can take: a sensor, a camera
        t0, loaded = time.monotonic(), []
        with self._lock:
            if rules.fingerprints:
                from edge.biometrics.finger import nfiq2

                try:
                    nfiq2.warm_up()
                    loaded.append("NFIQ 2")
                except nfiq2.Nfiq2Unavailable as exc:
                    log.error("fingerprint quality unavailable: %s", exc)
            if rules.face and self._load_analyzer() is not None:
                loaded.append("face")
        release_free_heap()
        if loaded:
            log.info("models loaded in %.1f s: %s", time.monotonic() - t0, ", ".join(loaded))

    def _target(self, step: Step) -> Callable[[Session], None]:
        return {Step.CHIP: self._chip, Step.FACE: self._face, Step.FINGERS: self._finger}[step]

    def ensure(self, s: Session) -> None:
        """Start the worker for the session's current step unless one already runs (the kiosk)."""
        key = f"{s.code}:{s.step}"
        t = self._running.get(key)
        if t is not None and t.is_alive():
            return
        t = threading.Thread(target=self.run, args=(s,), name=f"lane-{s.step}", daemon=True)
        self._running[key] = t
        t.start()

    def run(self, s: Session) -> None:
        """Do the device work of the session's current step until the step is over (auto mode calls it)."""
        step = s.step
        try:
            self._target(step)(s)
        except SessionError:
            pass  # the traveller cancelled or the step changed while the device worked
        except Exception:
            log.exception("lane step %s failed", step)
            with self.lane.lock:
                kind = {Step.CHIP: "chip", Step.FACE: "face"}.get(step, "finger")
                s.device_unavailable(kind, self.lane.clock())
                self.lane.after_change(s)

    def _still(self, s: Session, step: Step) -> bool:
        return s.step is step and not s.finished and not self.lane.stopping()

    def _unavailable(self, s: Session, kind: str) -> None:
        with self.lane.lock:
            s.device_unavailable(kind, self.lane.clock())   # type: ignore[arg-type]
            self.lane.after_change(s)

    # ---------------------------------------------------------------- chip
    def _chip(self, s: Session) -> None:
        lane = self.lane
        dev, reader, mrz = chip_device(lane.devices), chip_reader(lane.csca_store), lane.mrz_for_chip.get(s.code)
        if dev is None or reader is None or mrz is None:
            self._unavailable(s, "chip")
            return
        while self._still(s, Step.CHIP):
            try:
                result = reader(dev, mrz)
            except Exception as exc:   # the chip library's error: the traveller may try again
                log.warning("chip read failed: %s", type(exc).__name__)
                result = None
            with lane.lock:
                if not self._still(s, Step.CHIP):
                    return
                if result is None or getattr(result, "error_kind", None) == "no_card":
                    s.chip_unreadable(lane.clock())     # nothing on the reader yet: a try, then an officer
                else:
                    portrait = chip_portrait(result)
                    if portrait is not None:
                        lane.use_portrait(s.code, portrait)
                    s.chip_read(result, lane.clock())
                if s.step is not Step.CHIP:
                    lane.mrz_for_chip.pop(s.code, None)     # kept in memory for this step only
                lane.after_change(s)

    # ---------------------------------------------------------------- face
    def _face(self, s: Session) -> None:
        lane = self.lane
        cam = lane.devices.first(DeviceKind.CAMERA, exclude=lane.cfg.policy.portrait_camera)  # not the page camera
        analyzer = self.analyzer()
        if cam is None or cam.device is None or analyzer is None:
            self._unavailable(s, "face")
            return
        from edge.lane.face_capture import AutoCaptureResult, auto_capture

        lane.last_frame = None        # never show the previous traveller's picture
        while self._still(s, Step.FACE):
            result = None
            for item in auto_capture(_Tap(cam.device, lane), analyzer, timeout=lane.options.face_attempt_s):
                if not self._still(s, Step.FACE):
                    return
                if isinstance(item, AutoCaptureResult):
                    result = item
                else:
                    with lane.lock:
                        if self._still(s, Step.FACE):
                            s.face_feedback(tuple(item.feedback[:2]))
                            lane.changed.notify_all()
            if result is None:
                return
            with lane.lock:
                if not self._still(s, Step.FACE):
                    return
                if not result.ok or result.image is None:
                    s.face_failed(tuple(result.last_feedback[:2]), lane.clock())
                    lane.after_change(s)
                    continue
            face = self._compare(s, analyzer, result)
            with lane.lock:
                if not self._still(s, Step.FACE):
                    return
                face_box = result.report.face.box if result.report is not None and result.report.face else None
                lane.images.setdefault(s.code, {})["face_live.jpg"] = jpeg(crop_face(result.image, face_box), 90)
                s.face_captured(face, lane.clock())
                lane.after_change(s)

    def _compare(self, s: Session, analyzer: Any, result: Any) -> FaceResult:
        report = result.report
        quality = round(float(report.score), 1) if report is not None else None
        algorithm = report.algorithm if report is not None else None
        portrait = self.lane.portrait_of(s.code, timeout=PORTRAIT_WAIT_S)
        if portrait is None:      # the page camera's reason (e.g. page.other_document) goes into the record
            why = getattr(self.lane.portrait_provider, "reason", None)
            reason = why(s.document) if callable(why) else None
            return FaceResult(quality=quality, algorithm=algorithm, acceptable=True,
                              feedback=[reason] if reason else [])
        self.lane.images.setdefault(s.code, {})["face_portrait.jpg"] = jpeg(portrait, 90)
        m = analyzer.verify(result.image, portrait)
        if m.score is None:
            return FaceResult(quality=quality, algorithm=algorithm, acceptable=True, threshold=m.threshold, match=None,
                              feedback=list(m.quality_portrait.feedback[:2]))
        return FaceResult(quality=quality, algorithm=algorithm, acceptable=True, match_score=round(float(m.score), 4),
                          threshold=m.threshold, match=bool(m.match))

    # ---------------------------------------------------------------- fingerprints
    def _finger(self, s: Session) -> None:
        lane = self.lane
        dev = lane.devices.first(DeviceKind.FINGERPRINT)
        if dev is None or dev.device is None:
            self._unavailable(s, "finger")
            return
        from edge.lane.finger_capture import capture_finger

        on_glass = False          # a finger was just taken: it must leave before the next capture
        while self._still(s, Step.FINGERS):
            finger = s.next_finger()
            if finger is None:
                return
            if on_glass:
                if not self._await_lift(s, dev.device):
                    return
                on_glass = False
                continue          # the plan may have moved on meanwhile ("this finger is injured")
            cap = capture_finger(dev.device, finger, timeout=lane.options.finger_attempt_s, retries=0)
            with lane.lock:
                if not self._still(s, Step.FINGERS):
                    return
                if s.next_finger() != finger:
                    # the traveller said this finger cannot be taken while the sensor waited: what it took since
                    # is the finger asked for now (placed after reading the screen); it is taken again as that one
                    continue
                on_glass = cap.image is not None
                if cap.image is not None and cap.quality is not None:
                    lane.images.setdefault(s.code, {})[f"finger_{finger}.png"] = png(cap.image)
                s.finger_captured(cap.result(), lane.clock())
                lane.after_change(s)

    def _await_lift(self, s: Session, device: Device) -> bool:
        """Until the finger just taken leaves the sensor (True) or the step ends (False); the kiosk asks for it.

        Without this the sensor takes the finger still resting there as the next one, and one finger is recorded
        as two. The traveller is asked only when the finger stays (a quick lift shows nothing); what the screen
        said before (a retry's hint) comes back after the lift.
        """
        from edge.lane.finger_capture import wait_for_lift

        lane, before = self.lane, s.feedback

        def ask() -> None:
            with lane.lock:
                if self._still(s, Step.FINGERS):
                    s.finger_feedback(("finger.lift", *before[:1]))
                    lane.changed.notify_all()

        lifted = wait_for_lift(device, math.inf, asking=ask, waiting=lambda: self._still(s, Step.FINGERS))
        with lane.lock:
            if lifted and self._still(s, Step.FINGERS) and s.feedback[:1] == ("finger.lift",):
                s.finger_feedback(before)
                lane.changed.notify_all()
        return lifted
