"""DigitalPersona U.are.U 4000 / 4000B / 4500 optical readers over USB (pyusb), by VID:PID 05ba:0007/0008/000a.

The protocol (see `_finger_uareu4000_wire`): power the scanner up through the HWSTAT register and
wait for the 0x56aa interrupt; set MODE to await-finger-on and wait for the 0x0101 interrupt; set
MODE to capture and read one bulk frame; if the frame is scrambled (4000B/4500), write a seed to the
scramble-index register, read the key, and descramble block by block; MODE await-finger-off after the
frame makes the reader report the lift (the 0x0200 interrupt); MODE off powers it down.

Trouble is a result, never an exception: a stalled pipe is cleared and reported as PROTOCOL_ERROR, a
short or impossible frame is PROTOCOL_ERROR, no finger is NO_SAMPLE, and a vanished device is
DISCONNECTED until it is found again (with backoff). `usb_backend = "sim:<id>"` reaches the simulator.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import secrets
import time
from typing import Any

import numpy as np
import usb.core
import usb.util
from pydantic import Field

from drivers import usb_backends
from drivers.backends import _finger_uareu4000_wire as wire
from drivers.backends._lazy_open import LazyOpenDevice
from drivers.contract import (
    BackendConfig,
    CaptureResult,
    DeviceInfo,
    DeviceKind,
    Discovered,
    ErrorCode,
    Sample,
)

log = logging.getLogger("borderpost.drivers.finger_uareu4000")

GONE_ERRNOS = {errno.ENODEV, errno.ENOENT, errno.EIO, errno.ESHUTDOWN}


class Config(BackendConfig):
    serial: str | None = None          # pick one reader by its USB serial number when several are attached
    usb_backend: str = "default"       # "default" (libusb1 via pyusb), "libusb1", "libusb0", or "sim:<id>"
    frame_timeout_ms: int = Field(default=2000, ge=100, le=30000)
    powerup_timeout_ms: int = Field(default=300, ge=50, le=5000)


class Gone(Exception):
    """The device vanished mid-conversation."""


def _usb_backend(name: str) -> Any:
    return usb_backends.resolve(name)


def _is_gone(exc: usb.core.USBError) -> bool:
    return exc.errno in GONE_ERRNOS or exc.backend_error_code == -4  # LIBUSB_ERROR_NO_DEVICE


class UareU4000(LazyOpenDevice):
    kind = DeviceKind.FINGERPRINT
    name = "finger_uareu4000"
    missing_detail = "not found"
    Config = Config

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.cfg: Config = config  # type: ignore[assignment]
        self._dev: Any = None
        self._intf = 0
        self._model, self._flip = "U.are.U 4000", False
        self._serial = "unknown"
        self._versions = "unknown"
        self._mode, self._lifted = wire.MODE_INIT, False

    # ---- discovery and connection ---------------------------------------------------------------

    @classmethod
    def discover(cls) -> list[Discovered]:
        try:
            devs = list(usb.core.find(find_all=True, idVendor=wire.VENDOR_ID) or [])
        except (usb.core.NoBackendError, usb.core.USBError, ValueError):
            return []
        out = []
        for d in devs:
            if d.idProduct in wire.MODELS:
                serial = None
                with contextlib.suppress(Exception):
                    serial = d.serial_number
                out.append(Discovered(cls.name, {"serial": serial} if serial else {},
                                      f"{wire.MODELS[d.idProduct][0]} on bus {d.bus} address {d.address}"))
        return out

    def open(self) -> None:
        self._opened = True
        with self._lock:
            self._connect()

    def close(self) -> None:
        self._opened = False
        with self._lock:
            if self._dev is not None:
                with contextlib.suppress(Exception):
                    self._set_mode(wire.MODE_OFF)  # power the scanner down
            self._drop()

    def _drop(self) -> None:
        self._mode, self._lifted = wire.MODE_INIT, False
        if self._dev is not None:
            with contextlib.suppress(Exception):
                usb.util.release_interface(self._dev, self._intf)
            with contextlib.suppress(Exception):
                usb.util.dispose_resources(self._dev)
        self._dev = None

    def _find(self) -> Any:
        backend = _usb_backend(self.cfg.usb_backend)

        def match(d: Any) -> bool:
            if d.idProduct not in wire.MODELS:
                return False
            return self.cfg.serial is None or usb.util.get_string(d, d.iSerialNumber) == self.cfg.serial

        return usb.core.find(idVendor=wire.VENDOR_ID, custom_match=match, backend=backend)

    def _connect(self) -> bool:
        self._drop()
        try:
            dev = self._find()
            if dev is None:
                raise Gone("no U.are.U 4000-family reader found")
            self._dev = dev
            self._claim(dev)
            self._model, self._flip = wire.MODELS[dev.idProduct]
            with contextlib.suppress(Exception):
                self._serial = usb.util.get_string(dev, dev.iSerialNumber) or "unknown"
            self._power_up()
            info = self._read_regs(wire.REG_DEVICE_INFO, 16)
            self._versions = f"{info[10]:02x}{info[11]:02x}/{info[4]:02x}{info[5]:02x}"
        except (usb.core.USBError, usb.core.NoBackendError, Gone, wire.FrameError, ValueError) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._drop()
            self._backoff.failed()
            return False
        self._backoff.succeeded()
        self._last_error = ""
        return True

    def _claim(self, dev: Any) -> None:
        """Configure and claim the vendor-specific (255/255/255) interface."""
        try:
            cfg = dev.get_active_configuration()
        except usb.core.USBError:
            dev.set_configuration()
            cfg = dev.get_active_configuration()
        intf = usb.util.find_descriptor(cfg, custom_match=lambda i: (
            i.bInterfaceClass, i.bInterfaceSubClass, i.bInterfaceProtocol) == (255, 255, 255))
        if intf is None:
            raise Gone("reader has no vendor-specific interface")
        self._intf = intf.bInterfaceNumber
        with contextlib.suppress(NotImplementedError, usb.core.USBError):
            if dev.is_kernel_driver_active(self._intf):
                dev.detach_kernel_driver(self._intf)
        usb.util.claim_interface(dev, self._intf)

    def _power_up(self) -> None:
        """HWSTAT dance: recover a confused power state, power down, power up, await the 0x56aa interrupt."""
        for _ in range(3):
            hw = self._read_regs(wire.REG_HWSTAT, 1)[0]
            if hw & 0x84 == 0x84:  # "something went wrong" and low power: reboot the power state
                self._write_reg(wire.REG_HWSTAT, hw & 0x0F)
                for _ in range(100):
                    hw = self._read_regs(wire.REG_HWSTAT, 1)[0]
                    if hw & 0x01:
                        break
                    time.sleep(0.01)
                else:
                    raise Gone("could not reboot the reader's power state")
            if not hw & 0x80:
                self._write_reg(wire.REG_HWSTAT, hw | 0x80)
            for _ in range(100):
                self._write_reg(wire.REG_HWSTAT, hw & 0x0F)
                if not self._read_regs(wire.REG_HWSTAT, 1)[0] & 0x80:
                    break
                time.sleep(0.01)
            else:
                raise Gone("reader would not power up")
            if self._await_irq({wire.IRQ_SCANPWR_ON}, self.cfg.powerup_timeout_ms / 1000) is not None:
                return
        raise Gone("no scan-power interrupt after three power-ups")

    def _ensure(self) -> bool:
        if self._dev is not None:
            return True
        if not self._opened or not self._backoff.ready():
            return False
        return self._connect()

    # ---- transfers -------------------------------------------------------------------------------

    def _read_regs(self, reg: int, n: int) -> bytes:
        data = bytes(self._dev.ctrl_transfer(wire.CTRL_IN, wire.USB_RQ, reg, 0, n, timeout=1000))
        if len(data) != n:
            raise wire.FrameError(f"register {reg:#x}: {len(data)} of {n} bytes")
        return data

    def _write_reg(self, reg: int, *values: int) -> None:
        n = self._dev.ctrl_transfer(wire.CTRL_OUT, wire.USB_RQ, reg, 0, bytes(values), timeout=1000)
        if n != len(values):
            raise wire.FrameError(f"register {reg:#x}: wrote {n} of {len(values)} bytes")

    def _await_irq(self, wanted: set[int], timeout: float) -> int | None:
        """Read interrupts until one of `wanted` arrives (its type) or `timeout` passes (None)."""
        end = time.monotonic() + timeout
        while True:
            left_ms = int((end - time.monotonic()) * 1000)
            if left_ms <= 0:
                return None
            try:
                data = bytes(self._dev.read(wire.EP_INTR, wire.IRQ_LENGTH, timeout=min(left_ms, 200)))
            except usb.core.USBTimeoutError:
                continue
            kind = wire.irq_type(data)
            if kind == wire.IRQ_DEATH:
                log.warning("reader signalled interrupt 0x0800: the next frame may fail")
            if kind in wanted:
                return kind

    def _read_frame(self) -> np.ndarray:
        raw = bytes(self._dev.read(wire.EP_DATA, wire.FRAME_LEN, timeout=self.cfg.frame_timeout_ms))
        header = wire.FrameHeader.parse(raw)
        data = np.frombuffer(raw, np.uint8, count=header.num_lines * wire.WIDTH, offset=wire.HEADER_LEN).copy()
        encrypted = wire.line_variance(raw, header) >= wire.ENC_THRESHOLD
        if encrypted:
            data = self._descramble(data, header)
        img = 255 - wire.assemble(data.reshape(-1, wire.WIDTH), header)  # the sensor sends ridges light
        return img[::-1, ::-1].copy() if self._flip else img

    def _fetch_key(self, key_number: int) -> int:
        seed = secrets.randbits(32)
        self._write_reg(wire.REG_SCRAMBLE_INDEX, key_number & 0xFF, *seed.to_bytes(4, "little"))
        return int.from_bytes(self._read_regs(wire.REG_SCRAMBLE_KEY, 4), "little") ^ seed

    def _descramble(self, data: np.ndarray, header: wire.FrameHeader) -> np.ndarray:
        key_number = header.key_number
        key, pos, line = self._fetch_key(key_number), 0, 0
        out = data.copy()
        for flags, lines in header.blocks:
            if line >= header.num_lines:
                break
            if flags & wire.BLOCK_CHANGE_KEY:
                key_number += 1
                key, pos = self._fetch_key(key_number), 0
            n = lines * wire.WIDTH
            a = line * wire.WIDTH
            mode = flags & (wire.BLOCK_NO_KEY_UPDATE | wire.BLOCK_ENCRYPTED)
            if mode == wire.BLOCK_ENCRYPTED:
                out[a : a + n] = wire.descramble(data[a : a + n], key, pos)
                pos += n
            elif mode == 0:
                pos += n  # plain lines still advance the keystream
            if not flags & wire.BLOCK_NOT_PRESENT:
                line += lines
        return out

    # ---- contract --------------------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        return DeviceInfo(DeviceKind.FINGERPRINT, self.name, make="DigitalPersona", model=self._model,
                          serial=self._serial, firmware=self._versions,
                          extra={"image": [wire.WIDTH, wire.HEIGHT], "ppi": wire.PPI,
                                 "usb": f"{wire.VENDOR_ID:04x}"})

    def _set_mode(self, mode: int) -> None:
        self._write_reg(wire.REG_MODE, mode)
        self._mode = mode
        if mode != wire.MODE_AWAIT_FINGER_OFF:
            self._lifted = False

    def _take(self, timeout: float) -> CaptureResult:
        """Wait for the finger-on interrupt (up to `timeout`), then take and decode one frame."""
        self._set_mode(wire.MODE_AWAIT_FINGER_ON)
        if self._await_irq({wire.IRQ_FINGER_ON}, timeout) is None:
            return CaptureResult.fail(ErrorCode.NO_SAMPLE, "no finger before the timeout")
        self._set_mode(wire.MODE_CAPTURE)
        img = self._read_frame()
        self._set_mode(wire.MODE_AWAIT_FINGER_OFF)   # the reader reports the lift from here on
        meta = {"ppi": wire.PPI, "backend": self.name, "model": self._model}
        return CaptureResult(Sample(DeviceKind.FINGERPRINT, img, meta=meta))

    def _await_clear(self, timeout: float) -> bool:
        """The finger-off interrupt, armed after every frame (a lift since then is already queued); remembered
        until the next capture, since the reader reports the lift once."""
        if self._mode != wire.MODE_AWAIT_FINGER_OFF:
            self._set_mode(wire.MODE_AWAIT_FINGER_OFF)
        self._lifted = self._lifted or self._await_irq({wire.IRQ_FINGER_OFF}, timeout) is not None
        return self._lifted

    def _failed(self, exc: Exception) -> CaptureResult | None:
        if isinstance(exc, usb.core.USBTimeoutError):
            return CaptureResult.fail(ErrorCode.TIMEOUT, f"reader did not answer: {exc}")
        if isinstance(exc, usb.core.USBError):
            if _is_gone(exc):
                return self._gone(f"device gone: {exc}")
            if exc.errno == errno.EPIPE:
                with contextlib.suppress(usb.core.USBError):
                    self._dev.clear_halt(wire.EP_DATA)
                return CaptureResult.fail(ErrorCode.PROTOCOL_ERROR, "endpoint stalled (cleared)")
            return CaptureResult.fail(ErrorCode.PROTOCOL_ERROR, f"USB error: {exc}")
        if isinstance(exc, wire.FrameError):
            return CaptureResult.fail(ErrorCode.PROTOCOL_ERROR, str(exc))
        return None


BACKEND = UareU4000
