"""The finger step's capture loop: for each finger the post asks for, auto-capture the best of a few frames.

It drives the sensor, so it lives in the lane, not in the pure fingerprint core (edge.biometrics.finger
scores images and never touches a device). Why not in a driver: every sensor gives frames; deciding which
frame is good enough, when to ask the traveller to try again and when to give up is policy, and must be
the same for every sensor.
The device is any `drivers.contract.Device` of kind fingerprint. Live frames are judged with the fast
score (`assess`, algorithm borderpost-fq: tens of milliseconds) to pick the best one; NIST NFIQ 2 then
decides on that frame alone (a third of a second), and its score is the one recorded. Where NFIQ 2 cannot
load, the fast score decides and the record says so by its algorithm id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.contract import Device, DeviceInfo, ErrorCode
from edge.biometrics.finger import nfiq2
from edge.biometrics.finger.model import version as fast_version
from edge.biometrics.finger.names import FINGERS
from edge.biometrics.finger.quality import DEFAULT_THRESHOLD, FingerQuality, InvalidImage, assess
from edge.events.model import FingerResult

__all__ = ["FINGERS", "FingerCapture", "capture_finger", "capture_sequence", "wait_for_lift"]

log = logging.getLogger("borderpost.finger")


@dataclass(frozen=True)
class FingerCapture:
    """One finger's outcome: the best image seen (may be below threshold), its quality, and why it ended."""

    finger: str
    image: np.ndarray | None
    quality: FingerQuality | nfiq2.Nfiq2Quality | None   # what decided: NFIQ 2 of the kept frame, else the fast score
    device: DeviceInfo | None
    attempts: int = 0                 # tries used (1 + retries at most)
    frames: int = 0                   # frames scored in all attempts
    error: ErrorCode | None = None    # None: acceptable print captured
    detail: str = ""
    took_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.quality is not None and self.quality.acceptable

    @property
    def algorithm(self) -> str | None:
        """The quality algorithm and version behind `quality`, e.g. 'nfiq2/0.1.21' or 'borderpost-fq/2'."""
        q = self.quality
        if q is None:
            return None
        return f"nfiq2/{q.version}" if isinstance(q, nfiq2.Nfiq2Quality) else fast_version()

    def result(self) -> FingerResult:
        """What a crossing records of this finger (edge.events.model): no image, at most two feedback keys."""
        q = self.quality
        return FingerResult(finger=self.finger, quality=round(float(q.score), 1) if q else None, acceptable=self.ok,
                            feedback=list(q.feedback[:2]) if q else ["finger.place_finger"],
                            algorithm=self.algorithm)

    def to_dict(self) -> dict[str, Any]:
        """Summary without the image (never log or publish the print itself in clear)."""
        return {
            "finger": self.finger, "ok": self.ok, "attempts": self.attempts, "frames": self.frames,
            "error": str(self.error) if self.error else None, "detail": self.detail,
            "took_s": round(self.took_s, 3),
            "quality": self.quality.to_dict() if self.quality else None,
            "device": {"backend": self.device.backend, "make": self.device.make, "model": self.device.model,
                       "serial": self.device.serial} if self.device else None,
            "image_shape": list(self.image.shape) if self.image is not None else None,
        }


FrameCallback = Callable[[str, int, FingerQuality | None, ErrorCode | None], None]


def _attempt(device: Device, timeout: float, frames: int, threshold: float,
             finger: str, attempt: int, on_frame: FrameCallback | None
             ) -> tuple[np.ndarray | None, FingerQuality | None, int, ErrorCode | None, str]:
    """Up to `frames` frames within `timeout`; returns the best (image, quality) and the last error."""
    end = time.monotonic() + timeout
    best_img, best_q, n, err, detail = None, None, 0, None, ""
    while n < frames:
        left = end - time.monotonic()
        if left <= 0:
            break
        result = device.capture(timeout=left)
        if not result.ok or result.sample is None:
            err, detail = result.error or ErrorCode.INTERNAL, result.detail
            if on_frame:
                on_frame(finger, attempt, None, err)
            if err in (ErrorCode.DISCONNECTED, ErrorCode.UNSUPPORTED, ErrorCode.BUSY):
                break
            continue
        n += 1
        try:
            q = assess(result.sample.data, threshold)
        except InvalidImage as exc:
            err, detail = ErrorCode.PROTOCOL_ERROR, f"device image unusable: {exc.reason}"
            continue
        if on_frame:
            on_frame(finger, attempt, q, None)
        if best_q is None or q.score > best_q.score or (q.acceptable and not best_q.acceptable):
            best_img, best_q = result.sample.data, q
        if q.acceptable and n >= 1 and q.score >= threshold + 15:
            break  # clearly good: no need to make the traveller wait for more frames
    if best_q is None:
        return None, None, n, err or ErrorCode.NO_SAMPLE, detail or "no finger before the timeout"
    decided = decide(best_img, best_q, threshold)
    if decided.acceptable:
        return best_img, decided, n, None, ""
    return best_img, decided, n, ErrorCode.LOW_QUALITY, "no frame reached the threshold"


def decide(image: np.ndarray, live: FingerQuality, threshold: float) -> FingerQuality | nfiq2.Nfiq2Quality:
    """NFIQ 2 of the frame the live loop kept; the fast score when nothing is on the glass or NFIQ 2 is absent."""
    if "finger.place_finger" in live.feedback:
        return live
    try:
        return nfiq2.assess(image, threshold=threshold)
    except nfiq2.Nfiq2Failed:
        return nfiq2.Nfiq2Quality(score=0.0, acceptable=False, feedback=("finger.try_again",), threshold=threshold,
                                  version=nfiq2.version())
    except nfiq2.Nfiq2Unavailable as exc:
        log.warning("NFIQ 2 unavailable, the fast score decides: %s", exc)
        return live


def capture_finger(device: Device, finger: str, timeout: float = 10.0, retries: int = 2, *, frames: int = 3,
                   threshold: float = DEFAULT_THRESHOLD, on_frame: FrameCallback | None = None) -> FingerCapture:
    """One finger: up to 1 + `retries` attempts of up to `frames` frames, each attempt within `timeout` s."""
    t0 = time.monotonic()
    try:
        info = device.info()
    except Exception as exc:  # a driver bug must not end the traveller's session
        log.warning("device info failed: %s", type(exc).__name__)
        info = None
    best_img, best_q, total, err, detail, attempt = None, None, 0, None, "", 0
    for attempt in range(1, retries + 2):
        img, q, n, err, detail = _attempt(device, timeout, frames, threshold, finger, attempt, on_frame)
        total += n
        if q is not None and (best_q is None or q.score > best_q.score):
            best_img, best_q = img, q
        if err is None or err in (ErrorCode.DISCONNECTED, ErrorCode.UNSUPPORTED):
            break
    if best_q is not None and best_q.acceptable:
        err, detail = None, ""
    elif best_q is not None and err not in (ErrorCode.DISCONNECTED, ErrorCode.UNSUPPORTED):
        err, detail = ErrorCode.LOW_QUALITY, "no frame reached the threshold"
    return FingerCapture(finger, best_img, best_q, info, attempt, total, err, detail, time.monotonic() - t0)


LIFT_LOOK_S = 0.3        # a finger lifted at once is not asked to lift
LIFT_POLL_S = 1.0        # how often a long wait for the lift looks whether it should go on waiting


def wait_for_lift(device: Device, timeout: float, *, asking: Callable[[], None] | None = None,
                  waiting: Callable[[], bool] = lambda: True) -> bool:
    """Until the sensor is clear (True), or `timeout` passes or `waiting()` turns False with a finger still there.

    A sensor takes whatever is on the glass: without this, a finger left there is recorded again as the next
    one. `asking` runs once when the finger is still there after a short look (the kiosk says "lift your
    finger"). A sensor that cannot tell (`await_removal` gives None) counts as clear.
    """
    end = time.monotonic() + timeout
    look, asked = LIFT_LOOK_S, False
    while True:
        clear = device.await_removal(min(look, max(0.0, end - time.monotonic())))
        if clear is None or clear:
            return True
        if time.monotonic() >= end or not waiting():
            return False
        if not asked and asking is not None:
            asking()
        asked, look = True, LIFT_POLL_S


def capture_sequence(device: Device, fingers: list[str], timeout: float = 10.0, retries: int = 2, *,
                     frames: int = 3, threshold: float = DEFAULT_THRESHOLD,
                     on_frame: FrameCallback | None = None) -> list[FingerCapture]:
    """Each finger in order (e.g. the post's policy ["right_index", "left_index"]); one result per finger.

    Each finger after one that left a print waits for the sensor to be clear first (within `timeout`), so one
    finger is never recorded as two. A finger that fails (low quality after all retries, no finger, the one
    before never lifted) does not stop the sequence; an unplugged device does: the remaining fingers come
    back with DISCONNECTED.
    """
    unknown = [f for f in fingers if f not in FINGERS]
    if unknown:
        raise ValueError(f"unknown finger names {unknown} (expected some of {', '.join(FINGERS)})")
    out: list[FingerCapture] = []
    on_glass = False          # a print was taken and the finger has not been seen to leave since
    for finger in fingers:
        if out and out[-1].error is ErrorCode.DISCONNECTED:
            out.append(FingerCapture(finger, None, None, out[-1].device, error=ErrorCode.DISCONNECTED,
                                     detail="device disconnected earlier in the sequence"))
            continue
        if on_glass and not wait_for_lift(device, timeout):
            out.append(FingerCapture(finger, None, None, out[-1].device, error=ErrorCode.NO_SAMPLE,
                                     detail="the previous finger stayed on the sensor"))
            continue
        out.append(capture_finger(device, finger, timeout, retries, frames=frames, threshold=threshold,
                                  on_frame=on_frame))
        on_glass = out[-1].image is not None
    return out
