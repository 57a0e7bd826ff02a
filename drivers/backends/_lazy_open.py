"""Shared by backends that open (and re-open after an unplug) their device lazily, under one lock."""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import ClassVar

from drivers.backoff import Backoff
from drivers.contract import BackendConfig, CaptureResult, Device, ErrorCode, Status, StatusReport


class LazyOpenDevice(Device):
    """The frame around a lazily opened device: one lock, reconnect backoff, status, and capture's guard.

    Subclasses implement `_ensure()` (True when usable now), `_drop()` (forget the handle), `_take(timeout)`
    (one capture on an open device) and `_failed(exc)` (their transport's errors as a result, or None).
    """

    missing_detail: ClassVar[str] = "not found"

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self._backoff = Backoff(initial=0.1, maximum=2.0)
        self._opened = False
        self._last_error = ""

    @abstractmethod
    def _ensure(self) -> bool:
        """Open or re-open the device if needed (with backoff); never raises for a missing device."""

    @abstractmethod
    def _drop(self) -> None:
        """Forget the device handle (it is gone or broken); the next `_ensure()` opens it again."""

    @abstractmethod
    def _take(self, timeout: float) -> CaptureResult:
        """One capture on the open device, holding the lock."""

    @abstractmethod
    def _failed(self, exc: Exception) -> CaptureResult | None:
        """The result for a transport error raised by `_take`, or None for an error that is not one."""

    def _gone(self, why: str) -> CaptureResult:
        """The device vanished mid-capture: drop it, back off, and say so; status() shows it disconnected."""
        self._last_error = why
        self._drop()
        self._backoff.failed()
        return CaptureResult.fail(ErrorCode.DISCONNECTED, why)

    def capture(self, timeout: float, min_quality: float | None = None) -> CaptureResult:
        if not self._lock.acquire(timeout=0.1):
            return CaptureResult.fail(ErrorCode.BUSY, "another capture is running")
        try:
            if not self._ensure():
                return CaptureResult.fail(ErrorCode.DISCONNECTED, self._last_error or self.missing_detail)
            try:
                return self._take(timeout)
            except Exception as exc:
                result = self._failed(exc)
                if result is None:
                    raise
                return result
        finally:
            self._lock.release()

    def _await_clear(self, timeout: float) -> bool | None:
        """`await_removal` on the open device, holding the lock; None where the device cannot tell."""
        return None

    def await_removal(self, timeout: float) -> bool | None:
        if not self._lock.acquire(timeout=0.1):
            return False                      # a capture holds the device: nothing is known to have left
        try:
            if not self._ensure():
                return None
            try:
                return self._await_clear(timeout)
            except Exception as exc:
                if self._failed(exc) is None:  # not the transport's error: a bug
                    raise
                return None                   # the device failed; the next capture says how
        finally:
            self._lock.release()

    def status(self) -> StatusReport:
        if not self._opened:
            return StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED, "closed")
        if not self._lock.acquire(blocking=False):
            return StatusReport(Status.BUSY)  # a capture holds the device
        try:
            if self._ensure():
                return StatusReport(Status.READY)
            return StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED, self._last_error or self.missing_detail)
        finally:
            self._lock.release()
