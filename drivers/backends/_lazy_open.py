"""Shared by backends that open (and re-open after an unplug) their device lazily, under one lock."""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import ClassVar

from drivers.contract import Device, ErrorCode, Status, StatusReport


class LazyOpenDevice(Device):
    """Subclasses set `_opened`, `_lock`, `_last_error` and implement `_ensure()` (True when usable now)."""

    missing_detail: ClassVar[str] = "not found"
    _opened: bool
    _lock: threading.Lock
    _last_error: str | None

    @abstractmethod
    def _ensure(self) -> bool:
        """Open or re-open the device if needed (with backoff); never raises for a missing device."""

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
