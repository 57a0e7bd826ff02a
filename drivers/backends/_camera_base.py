"""Plumbing shared by the camera backends (sim, V4L2, picamera2): a reader thread, timestamps, reconnects.

A camera always has frames, so the backend keeps only the newest one (with its wall and monotonic
time) and hands out frames newer than the caller has seen: a slow consumer gets fresh frames, not a
backlog. A read failure is a disconnect: `status()` says so and the thread reconnects with backoff.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from drivers.backoff import Backoff
from drivers.contract import (
    BackendConfig,
    CaptureResult,
    Device,
    DeviceKind,
    ErrorCode,
    Sample,
    Status,
    StatusReport,
)


class CameraConfig(BackendConfig):
    width: int = Field(default=640, ge=16, le=8192)
    height: int = Field(default=480, ge=16, le=8192)
    fps: float = Field(default=15.0, gt=0, le=240)


class CameraUnavailable(Exception):
    """The camera cannot be used on this machine at all (library missing): no point retrying."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    index: int
    wall: float
    mono: float


def frame_quality(image: np.ndarray) -> float:
    """A cheap 0-100 image-level quality (exposure and sharpness), for `capture(min_quality=...)`.

    Face-specific quality is the pipeline's job (`edge.biometrics.face`); this only rejects black, white
    and smeared frames. OpenCV is imported here, not at the top: the uplink and the UIs validate the camera's
    settings when they load the config, and must not carry OpenCV's memory for it.
    """
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    if w > 320:
        grey = cv2.resize(grey, (320, max(1, round(h * 320 / w))), interpolation=cv2.INTER_AREA)
    mean = float(grey.mean()) / 255.0
    exposure = float(np.clip(1.0 - abs(mean - 0.5) / 0.4, 0.0, 1.0))
    sharp = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    sharpness = float(np.clip(sharp / 100.0, 0.0, 1.0))
    return round(100.0 * exposure * sharpness, 1)


class ThreadedCamera(Device):
    kind = DeviceKind.CAMERA

    def __init__(self, config: CameraConfig) -> None:
        super().__init__(config)
        self.config: CameraConfig = config
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._index = 0
        self._status = StatusReport(Status.NOT_READY, ErrorCode.NOT_READY, "not opened")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(initial=0.1, maximum=2.0)

    # -- what each backend provides -------------------------------------------------------------------

    @abstractmethod
    def _connect(self) -> None:
        """Open the camera; raise OSError (retry later) or CameraUnavailable (never)."""

    @abstractmethod
    def _read(self) -> np.ndarray | None:
        """Block until the next frame; None means the camera is gone."""

    @abstractmethod
    def _disconnect(self) -> None: ...

    # -- contract -------------------------------------------------------------------------------------

    def open(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._set(StatusReport(Status.NOT_READY, ErrorCode.NOT_READY, "starting"))
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        t, self._thread = self._thread, None
        if t is not None:
            t.join(timeout=5.0)
        with self._cond:
            self._latest = None
            self._status = StatusReport(Status.NOT_READY, ErrorCode.NOT_READY, "closed")
            self._cond.notify_all()

    @property
    def stale_after(self) -> float:
        """Seconds without a frame before a camera counts as gone: 2 s, or three frame periods if longer."""
        return max(2.0, 3.0 / self.config.fps)

    def status(self) -> StatusReport:
        with self._cond:
            st, latest = self._status, self._latest
        if st.status is Status.READY and (latest is None or time.monotonic() - latest.mono > self.stale_after):
            return StatusReport(Status.DISCONNECTED, ErrorCode.TIMEOUT, "no frame for over "
                                f"{self.stale_after:g} s")
        return st

    def capture(self, timeout: float, min_quality: float | None = None) -> CaptureResult:
        """The next frame; with `min_quality`, the first frame whose image-level quality reaches it.

        When no frame reaches it before `timeout`, the result is `low-quality` and still carries the best
        frame seen (`result.sample`), so a caller may show or keep it.
        """
        end = time.monotonic() + max(0.0, timeout)
        seen = self._index
        best: Sample | None = None
        while True:
            frame, err = self._next_frame(seen, end)
            if frame is None:
                if best is not None:
                    return CaptureResult(sample=best, error=ErrorCode.LOW_QUALITY,
                                         detail=f"best frame quality {best.quality} < {min_quality}")
                return err
            seen = frame.index
            score = frame_quality(frame.image) if min_quality is not None else None
            sample = self._sample(frame, score)
            if score is None or score >= (min_quality or 0):
                return CaptureResult(sample=sample)
            if best is None or score > (best.quality or 0):
                best = sample

    def stream(self, duration: float | None = None) -> Iterator[CaptureResult]:
        """Every new frame (skipping those that came while the consumer was busy), with its timestamps."""
        end = None if duration is None else time.monotonic() + duration
        seen = self._index
        while end is None or time.monotonic() < end:
            wait_end = time.monotonic() + 1.0 if end is None else min(end, time.monotonic() + 1.0)
            frame, err = self._next_frame(seen, wait_end)
            if frame is None:
                yield err
                continue
            seen = frame.index
            yield CaptureResult(sample=self._sample(frame, None))

    # -- internals ------------------------------------------------------------------------------------

    def _sample(self, frame: Frame, score: float | None) -> Sample:
        return Sample(kind=DeviceKind.CAMERA, data=frame.image, quality=score, captured_wall=frame.wall,
                      captured_mono=frame.mono, meta={"frame": frame.index, "backend": self.name,
                                                      "width": int(frame.image.shape[1]),
                                                      "height": int(frame.image.shape[0])})

    def _next_frame(self, after: int, end: float) -> tuple[Frame | None, CaptureResult]:
        with self._cond:
            while True:
                if self._latest is not None and self._latest.index > after:
                    return self._latest, CaptureResult()
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(timeout=min(left, 0.1))
            st = self._status
        if st.status is Status.DISCONNECTED:
            return None, CaptureResult.fail(ErrorCode.DISCONNECTED, st.detail)
        if st.status is Status.ERROR:
            return None, CaptureResult.fail(st.error or ErrorCode.INTERNAL, st.detail)
        if self._thread is None:
            return None, CaptureResult.fail(ErrorCode.NOT_READY, "camera not open")
        return None, CaptureResult.fail(ErrorCode.TIMEOUT, "no frame before the timeout")

    def _set(self, report: StatusReport) -> None:
        with self._cond:
            self._status = report
            self._cond.notify_all()

    def _run(self) -> None:
        connected = False
        while not self._stop.is_set():
            if not connected:
                if not self._backoff.ready():
                    self._stop.wait(0.05)
                    continue
                try:
                    self._connect()
                    connected = True
                    self._backoff.succeeded()
                except CameraUnavailable as exc:
                    self._set(StatusReport(Status.ERROR, ErrorCode.UNSUPPORTED, str(exc)))
                    return
                except Exception as exc:  # any driver trouble is a disconnect, retried
                    self._backoff.failed()
                    self._set(StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED,
                                           f"{type(exc).__name__}: {exc}"))
                    continue
            try:
                image = self._read()
            except Exception as exc:
                image = None
                detail = f"{type(exc).__name__}: {exc}"
            else:
                detail = "camera stopped delivering frames"
            if self._stop.is_set():
                break
            if image is None:
                connected = False
                self._safe_disconnect()
                self._backoff.failed()
                self._set(StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED, detail))
                continue
            now_wall, now_mono = time.time(), time.monotonic()
            with self._cond:
                self._index += 1
                self._latest = Frame(image, self._index, now_wall, now_mono)
                self._status = StatusReport(Status.READY)
                self._cond.notify_all()
        self._safe_disconnect()

    def _safe_disconnect(self) -> None:
        with contextlib.suppress(Exception):  # closing a vanished device may fail; nothing left to do
            self._disconnect()
