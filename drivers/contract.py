"""The one contract every device backend keeps (after MOSIP's biometric device interface).

discover -> info -> status -> capture(timeout, wanted quality) -> stream; and, where a sensor can tell,
await_removal (the finger lifted off the glass).

Backends never raise for device trouble: an unplugged cable, a garbled frame or a timeout comes back
as a `CaptureResult` with an `ErrorCode`, and `status()` says `disconnected` until the backend has
reconnected by itself (see `drivers.backoff`). Exceptions are reserved for programming errors.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class DeviceKind(StrEnum):
    MRZ = "mrz"
    CAMERA = "camera"
    FINGERPRINT = "fingerprint"
    CHIP = "chip"                  # contactless passport chips through PC/SC readers


class Status(StrEnum):
    READY = "ready"
    BUSY = "busy"
    NOT_READY = "not-ready"
    DISCONNECTED = "disconnected"
    ERROR = "error"


class ErrorCode(StrEnum):
    NO_SAMPLE = "no-sample"            # nothing presented (no document, no face, no finger) before the timeout
    TIMEOUT = "timeout"                # the device did not answer in time
    PROTOCOL_ERROR = "protocol-error"  # the device answered bytes we could not decode (checksum, framing, size)
    DISCONNECTED = "disconnected"      # the device is gone (unplugged, port missing); the backend keeps retrying
    BUSY = "busy"                      # another capture is running
    NOT_READY = "not-ready"            # warming up, initialising
    LOW_QUALITY = "low-quality"        # samples arrived, none reached the wanted quality
    UNSUPPORTED = "unsupported"        # the backend cannot do this (e.g. stream on a swipe reader)
    CANCELLED = "cancelled"
    INTERNAL = "internal"              # a bug; the detail says what


class BackendConfig(BaseModel):
    """Base for each backend's own typed settings; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class DeviceInfo:
    kind: DeviceKind
    backend: str
    make: str = "unknown"
    model: str = "unknown"
    serial: str = "unknown"
    firmware: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusReport:
    status: Status
    error: ErrorCode | None = None
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.status is Status.READY


@dataclass(frozen=True)
class Discovered:
    """A device found on this machine that a backend could open with `settings`."""

    backend: str
    settings: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Sample:
    """One captured sample. `data` is bytes (MRZ text as UTF-8), or a numpy array (image, HxW or HxWxC)."""

    kind: DeviceKind
    data: Any
    quality: float | None = None          # 0-100 where the backend or pipeline scored it
    feedback: tuple[str, ...] = ()        # message keys the traveller can act on
    captured_wall: float = field(default_factory=time.time)
    captured_mono: float = field(default_factory=time.monotonic)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaptureResult:
    sample: Sample | None = None
    error: ErrorCode | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.sample is not None and self.error is None

    @classmethod
    def fail(cls, error: ErrorCode, detail: str = "") -> CaptureResult:
        return cls(sample=None, error=error, detail=detail)


class Device(ABC):
    """A device backend. One file per backend under `drivers/backends/`, exporting `BACKEND = TheClass`."""

    kind: ClassVar[DeviceKind]
    name: ClassVar[str]                      # the backend name used in config, e.g. "mrz_serial"
    Config: ClassVar[type[BackendConfig]] = BackendConfig

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @classmethod
    def discover(cls) -> list[Discovered]:
        """Devices of this backend present on the machine (e.g. by USB VID:PID)."""
        return []

    @abstractmethod
    def open(self) -> None:
        """Start using the device. Must not raise for a missing device: status() reports it."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice."""

    @abstractmethod
    def info(self) -> DeviceInfo: ...

    @abstractmethod
    def status(self) -> StatusReport: ...

    @abstractmethod
    def capture(self, timeout: float, min_quality: float | None = None) -> CaptureResult:
        """Block until a sample (of at least `min_quality`, where the backend scores) or `timeout` seconds."""

    def await_removal(self, timeout: float) -> bool | None:
        """Block until nothing rests on the device (True) or `timeout` passes with something still there (False).

        None: this device cannot tell. A sensor that takes a finger the moment it is touched records a finger
        left on the glass again as the next one; the lane asks the traveller to lift and waits here first.
        """
        return None

    def stream(self, duration: float | None = None) -> Iterator[CaptureResult]:
        """Successive samples (frames with live quality); default: repeated captures."""
        end = None if duration is None else time.monotonic() + duration
        while end is None or time.monotonic() < end:
            left = 1.0 if end is None else max(0.0, end - time.monotonic())
            yield self.capture(timeout=min(1.0, left) or 0.01)

    def __enter__(self) -> Device:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
