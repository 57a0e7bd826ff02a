"""Serial / USB-serial MRZ readers (pyserial), one backend for every supported framing profile.

A background thread owns the port: it opens it (a device path, a /dev/serial/by-id link or any
pyserial URL), decodes frames with `drivers.mrz_framing`, queues MRZ texts, and when the port
disappears it reports `disconnected` and reopens with `drivers.backoff.Backoff` until it is back.
`capture()` only waits on that queue, so an unplugged reader never blocks or crashes the station.
MRZ text is personal data: nothing here logs it.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import queue
import threading
import time
from typing import ClassVar

import serial
from pydantic import Field, field_validator
from serial.tools import list_ports

from drivers.backoff import Backoff
from drivers.contract import (
    BackendConfig,
    CaptureResult,
    Device,
    DeviceInfo,
    DeviceKind,
    Discovered,
    ErrorCode,
    Sample,
    Status,
    StatusReport,
)
from drivers.mrz_framing import PROFILES, FrameDecoder

log = logging.getLogger(__name__)

IDLE_FLUSH_S = 0.4          # a line end that never came: treat the quiet line as terminated
READ_CHUNK = 256

# USB VID:PID of reader families that present a serial (CDC-ACM / VCP) port. Only IDs taken from the
# vendors' public material or Linux usb.ids are listed; a reader not here is still usable by `port`.
KNOWN_USB_READERS: dict[tuple[int, int | None], str] = {
    (0x0DB5, None): "Access-IS (OCR310/OCR315/ATOM family)",
}
BY_ID_HINTS = ("access_is", "access-is", "ocr3", "mrz", "passport", "desko", "regula", "gemalto", "thales", "3m_")


class MrzSerialConfig(BackendConfig):
    port: str = Field(description="device path, /dev/serial/by-id/... link, or pyserial URL (loop://, rfc2217://)")
    baudrate: int = Field(9600, gt=0)
    profile: str = Field("cr", description="framing profile: " + ", ".join(PROFILES))
    dedup_window_s: float = Field(2.0, ge=0, description="an identical MRZ within this many seconds is a repeat")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str) -> str:
        if v not in PROFILES:
            raise ValueError(f"unknown profile {v!r} (known: {', '.join(PROFILES)})")
        return v


class MrzSerial(Device):
    kind: ClassVar[DeviceKind] = DeviceKind.MRZ
    name: ClassVar[str] = "mrz_serial"
    Config = MrzSerialConfig

    def __init__(self, config: MrzSerialConfig) -> None:  # type: ignore[override]
        super().__init__(config)
        self.config: MrzSerialConfig = config
        self._profile = PROFILES[config.profile]
        self._queue: queue.Queue[CaptureResult] = queue.Queue(maxsize=16)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = StatusReport(Status.NOT_READY, ErrorCode.NOT_READY, "not opened")
        self._capture_lock = threading.Lock()
        self._last_text: str | None = None
        self._last_at = 0.0
        self.backoff = Backoff(initial=0.1, maximum=2.0)

    # -- contract ---------------------------------------------------------------------------------
    @classmethod
    def discover(cls) -> list[Discovered]:
        """Serial ports whose USB VID matches a known reader family, plus matching /dev/serial/by-id links."""
        found: dict[str, Discovered] = {}
        with contextlib.suppress(Exception):
            for p in list_ports.comports():
                for (vid, pid), family in KNOWN_USB_READERS.items():
                    if p.vid == vid and (pid is None or p.pid == pid):
                        found[p.device] = Discovered(cls.name, {"port": p.device},
                                                     f"{family} {p.vid:04x}:{p.pid:04x}")
        for link in sorted(glob.glob("/dev/serial/by-id/*")):
            if any(h in os.path.basename(link).lower() for h in BY_ID_HINTS):
                target = os.path.realpath(link)
                found.setdefault(target, Discovered(cls.name, {"port": link}, os.path.basename(link)))
        return list(found.values())

    def open(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._status = StatusReport(Status.NOT_READY, ErrorCode.NOT_READY, "opening")
        self._thread = threading.Thread(target=self._run, name="mrz_serial", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)
            self._thread = None
        self._status = StatusReport(Status.DISCONNECTED, ErrorCode.DISCONNECTED, "closed")

    def info(self) -> DeviceInfo:
        return DeviceInfo(kind=self.kind, backend=self.name, make="serial MRZ reader", model=self.config.profile,
                          extra={"port": self.config.port, "baudrate": self.config.baudrate})

    def status(self) -> StatusReport:
        return self._status

    def capture(self, timeout: float, min_quality: float | None = None) -> CaptureResult:
        if not self._capture_lock.acquire(blocking=False):
            return CaptureResult.fail(ErrorCode.BUSY, "another capture is running")
        try:
            return self._wait(timeout)
        finally:
            self._capture_lock.release()

    # -- internals --------------------------------------------------------------------------------
    def _wait(self, timeout: float) -> CaptureResult:
        end = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                return self._queue.get(timeout=min(0.05, max(0.0, end - time.monotonic())))
            except queue.Empty:
                pass
            if self._status.status is Status.DISCONNECTED:
                return CaptureResult.fail(ErrorCode.DISCONNECTED, self._status.detail)
            if time.monotonic() >= end:
                return CaptureResult.fail(ErrorCode.NO_SAMPLE, "no document presented")

    def _put(self, result: CaptureResult) -> None:
        try:
            self._queue.put_nowait(result)
        except queue.Full:       # nobody is capturing: keep the newest
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(result)

    def _run(self) -> None:
        while not self._stop.is_set():
            port = self._connect()
            if port is None:
                self._stop.wait(0.05)
                continue
            try:
                self._read_loop(port)
            finally:
                with contextlib.suppress(Exception):
                    port.close()

    def _connect(self) -> serial.SerialBase | None:
        if not self.backoff.ready():
            return None
        try:
            port = serial.serial_for_url(self.config.port, baudrate=self.config.baudrate, timeout=0.05,
                                         do_not_open=True)
            port._reset_input_buffer = lambda: None  # open() flushes input: a read made while we started is kept
            port.open()
            del port._reset_input_buffer
            if self._profile.init:
                port.write(self._profile.init)
                port.flush()
        except (serial.SerialException, OSError, ValueError) as exc:
            self.backoff.failed()
            self._set(Status.DISCONNECTED, ErrorCode.DISCONNECTED, f"cannot open port: {type(exc).__name__}")
            return None
        self.backoff.succeeded()
        self._set(Status.READY, None, "")
        return port

    def _read_loop(self, port: serial.SerialBase) -> None:
        decoder = FrameDecoder(self._profile)
        last_byte = time.monotonic()
        while not self._stop.is_set():
            try:
                data = port.read(READ_CHUNK)
                if not data and not os.path.exists(self.config.port) and "://" not in self.config.port:
                    raise serial.SerialException("port vanished")
            except (serial.SerialException, OSError, TypeError) as exc:
                if decoder.pending:
                    self._put(CaptureResult.fail(ErrorCode.DISCONNECTED, "reader unplugged mid-document"))
                self._set(Status.DISCONNECTED, ErrorCode.DISCONNECTED, f"port lost: {type(exc).__name__}")
                self.backoff.failed()
                return
            now = time.monotonic()
            if data:
                last_byte = now
                items = decoder.feed(data)
            elif now - last_byte > IDLE_FLUSH_S:
                items = decoder.idle()
            else:
                items = []
            for item in items:
                self._deliver(item.text, item.garbage)

    def _deliver(self, text: str | None, garbage: str | None) -> None:
        if text is None:
            self._put(CaptureResult.fail(ErrorCode.PROTOCOL_ERROR, garbage or "undecodable bytes"))
            return
        now = time.monotonic()
        if text == self._last_text and now - self._last_at < self.config.dedup_window_s:
            self._last_at = now
            return
        self._last_text, self._last_at = text, now
        sample = Sample(kind=DeviceKind.MRZ, data=text.encode("utf-8"), meta={"profile": self.config.profile})
        self._put(CaptureResult(sample=sample))

    def _set(self, status: Status, error: ErrorCode | None, detail: str) -> None:
        if self._status.status is not status:
            log.info("mrz reader %s: %s %s", self.config.port, status.value, detail)
        self._status = StatusReport(status, error, detail)


BACKEND = MrzSerial
