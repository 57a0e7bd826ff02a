"""ZhianTec ZFM / Grow R30x fingerprint modules (R305, R307, R503, FPM10A and compatibles) over a UART.

The module speaks a documented packet protocol: header EF 01, a 4-byte module address, a packet id
(01 command, 02 data, 07 acknowledge, 08 end of data), a 2-byte length (payload + checksum), the
payload and a 2-byte checksum (sum of id, length and payload bytes). Every command is answered by an
acknowledge whose first byte is a confirmation code. The image is fetched with GenImg (01) until a
finger is on the glass, then UpImage (0A): an acknowledge followed by data packets carrying the sensor's
pixels at 4 bits each (high nibble first), the last one marked 08. The image size is the module's own:
R503-class modules state it in ReadProdInfo (192×192 on an R503); older ones (R305, R307, FPM10A),
which refuse that command, have the datasheet's 256×288.

Bad bytes (wrong checksum, framing, short image) come back as PROTOCOL_ERROR and the port is flushed,
so the next capture works; a vanished port is DISCONNECTED and is reopened with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import serial
from pydantic import Field

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

log = logging.getLogger("borderpost.drivers.finger_r30x")

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
MAX_PAYLOAD = 512               # the largest data packet is 256 bytes; anything longer is garbage
IMAGE_W, IMAGE_H = 256, 288     # R305/R307/FPM10A: modules without ReadProdInfo


class Pid(IntEnum):
    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END = 0x08


class Cmd(IntEnum):
    GEN_IMG = 0x01
    UP_IMAGE = 0x0A
    READ_SYS_PARA = 0x0F
    VFY_PWD = 0x13
    TEMPLATE_NUM = 0x1D
    READ_PROD_INFO = 0x3C       # R503 and later only
    HANDSHAKE = 0x40


CONFIRMATION: dict[int, str] = {
    0x00: "ok",
    0x01: "packet receive error",
    0x02: "no finger on the sensor",
    0x03: "failed to take the image",
    0x06: "image too disorderly",
    0x07: "too few feature points",
    0x0E: "cannot receive the following data packets",
    0x0F: "failed to upload the image",
    0x13: "wrong password",
    0x15: "no valid primary image",
    0x18: "flash write error",
    0x1D: "communication port failure",
}
PACKET_SIZES = {0: 32, 1: 64, 2: 128, 3: 256}


class PacketError(Exception):
    """Bytes that are not a valid packet. `reason`: bad-header, bad-length, bad-checksum, bad-pid, bad-address."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Packet:
    pid: int
    payload: bytes
    address: int = DEFAULT_ADDRESS


def checksum(pid: int, payload: bytes) -> int:
    n = len(payload) + 2
    return (pid + (n >> 8) + (n & 0xFF) + sum(payload)) & 0xFFFF


def encode(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    n = len(payload) + 2
    return (HEADER + address.to_bytes(4, "big") + bytes([pid]) + n.to_bytes(2, "big") + payload
            + checksum(pid, payload).to_bytes(2, "big"))


def command(cmd: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    return encode(Pid.COMMAND, bytes([cmd]) + params, address)


def decode(buf: bytes | bytearray) -> tuple[Packet, int] | None:
    """The first packet in `buf` and the bytes it used; None when more bytes are needed."""
    if len(buf) < 2:
        return None
    if bytes(buf[:2]) != HEADER:
        raise PacketError("bad-header", f"starts with {bytes(buf[:2]).hex()}")
    if len(buf) < 9:
        return None
    address = int.from_bytes(buf[2:6], "big")
    pid = buf[6]
    if pid not in (Pid.COMMAND, Pid.DATA, Pid.ACK, Pid.END):
        raise PacketError("bad-pid", f"packet id {pid:#04x}")
    n = int.from_bytes(buf[7:9], "big")
    if n < 2 or n - 2 > MAX_PAYLOAD:
        raise PacketError("bad-length", f"length field {n}")
    if len(buf) < 9 + n:
        return None
    payload = bytes(buf[9 : 9 + n - 2])
    got = int.from_bytes(buf[9 + n - 2 : 9 + n], "big")
    want = checksum(pid, payload)
    if got != want:
        raise PacketError("bad-checksum", f"got {got:#06x}, computed {want:#06x}")
    return Packet(pid, payload, address), 9 + n


def pack_image(img: np.ndarray) -> bytes:
    """uint8 image → 4-bit packed bytes (high nibble = left pixel), as the module sends it."""
    q = (img.astype(np.uint16) >> 4).astype(np.uint8).reshape(-1)
    return bytes((q[0::2] << 4) | q[1::2])


def unpack_image(data: bytes, width: int = IMAGE_W, height: int = IMAGE_H) -> np.ndarray:
    if len(data) != width * height // 2:
        raise PacketError("bad-length", f"image has {len(data)} bytes, expected {width * height // 2}")
    b = np.frombuffer(data, np.uint8)
    px = np.empty(width * height, np.uint8)
    px[0::2] = b >> 4
    px[1::2] = b & 0x0F
    return (px * 17).reshape(height, width)  # 4-bit levels spread over 0..255


@dataclass(frozen=True)
class SysParams:
    status: int
    system_id: int
    library_size: int
    security_level: int
    address: int
    packet_size: int
    baud: int

    @classmethod
    def parse(cls, data: bytes) -> SysParams:
        if len(data) < 16:
            raise PacketError("bad-length", f"system parameters have {len(data)} bytes, expected 16")
        u16 = [int.from_bytes(data[i : i + 2], "big") for i in (0, 2, 4, 6, 12, 14)]
        code = u16[4]
        if code not in PACKET_SIZES:
            raise PacketError("bad-length", f"packet size code {code}")
        return cls(u16[0], u16[1], u16[2], u16[3], int.from_bytes(data[8:12], "big"), PACKET_SIZES[code],
                   u16[5] * 9600)


class Config(BackendConfig):
    port: str = "/dev/serial0"            # UART (Pi GPIO) or USB-serial adapter; also pyserial URLs
    baudrate: int = Field(default=57600, ge=9600, le=115200)
    address: int = Field(default=DEFAULT_ADDRESS, ge=0, le=0xFFFFFFFF)
    password: int = Field(default=0, ge=0, le=0xFFFFFFFF)
    reply_timeout: float = Field(default=2.0, gt=0, le=30)    # one packet; UpImage at 57600 baud takes ~7 s
    poll_interval: float = Field(default=0.05, ge=0, le=2)    # between GenImg tries while no finger


class DeviceGone(Exception):
    """The serial port failed (unplugged adapter, closed pseudo-terminal)."""


class R30xFingerprint(LazyOpenDevice):
    kind = DeviceKind.FINGERPRINT
    name = "finger_r30x"
    missing_detail = "port not open"
    Config = Config

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.cfg: Config = config  # type: ignore[assignment]
        self._ser: serial.SerialBase | None = None
        self._params: SysParams | None = None
        self._product: dict[str, Any] = {}
        self._rx = bytearray()          # bytes read but not yet decoded (packets arrive back to back)

    @classmethod
    def discover(cls) -> list[Discovered]:
        """USB-serial bridges these modules are usually wired through (not probed: it may be another device)."""
        from serial.tools import list_ports

        bridges = {(0x10C4, 0xEA60), (0x1A86, 0x7523), (0x0403, 0x6001), (0x067B, 0x2303)}
        return [Discovered(cls.name, {"port": p.device}, f"USB-serial bridge {p.vid:04x}:{p.pid:04x} (unprobed)")
                for p in list_ports.comports() if (p.vid, p.pid) in bridges]

    # ---- connection -----------------------------------------------------------------------------

    def open(self) -> None:
        self._opened = True
        with self._lock:
            self._connect()

    def close(self) -> None:
        self._opened = False
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        self._rx.clear()
        if self._ser is not None:
            with contextlib.suppress(Exception):
                self._ser.close()
        self._ser = None

    def _connect(self) -> bool:
        """Open the port and handshake (password, parameters). Caller holds the lock."""
        self._drop()
        try:
            self._ser = serial.serial_for_url(self.cfg.port, baudrate=self.cfg.baudrate, timeout=0.05,
                                              write_timeout=1.0)
            confirm, _ = self._transact(Cmd.VFY_PWD, self.cfg.password.to_bytes(4, "big"))
            if confirm != 0:
                raise PacketError("refused", f"password: {CONFIRMATION.get(confirm, hex(confirm))}")
            confirm, data = self._transact(Cmd.READ_SYS_PARA)
            if confirm != 0:
                raise PacketError("refused", "ReadSysPara")
            self._params = SysParams.parse(data)
            self._product = self._read_product()
        except (serial.SerialException, OSError, DeviceGone, PacketError, TimeoutError) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._drop()
            self._backoff.failed()
            return False
        self._backoff.succeeded()
        return True

    def _read_product(self) -> dict[str, Any]:
        """R503-class modules describe themselves; older ones refuse the command, which is fine."""
        try:
            confirm, d = self._transact(Cmd.READ_PROD_INFO)
        except (PacketError, TimeoutError):
            self._flush()
            return {}
        if confirm != 0 or len(d) < 46:
            return {}
        width, height = int.from_bytes(d[38:40], "big"), int.from_bytes(d[40:42], "big")
        if not (16 <= width <= 1024 and 16 <= height <= 1024 and width % 2 == 0):
            raise PacketError("bad-length", f"ReadProdInfo sensor size {width}x{height}")
        text = lambda b: b.split(b"\0")[0].decode("ascii", "replace").strip()  # noqa: E731
        return {"model": text(d[0:16]), "batch": text(d[16:20]), "serial": text(d[20:28]),
                "hardware": f"{d[28]}.{d[29]}", "sensor": text(d[30:38]),
                "width": width, "height": height}

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the module's images: its own ReadProdInfo answer, else the R305/R307 size."""
        return (self._product.get("width") or IMAGE_W, self._product.get("height") or IMAGE_H)

    def _ensure(self) -> bool:
        if self._ser is not None:
            return True
        if not self._opened or not self._backoff.ready():
            return False
        return self._connect()

    # ---- packets ----------------------------------------------------------------------------------

    def _flush(self) -> None:
        self._rx.clear()
        if self._ser is not None:
            with contextlib.suppress(Exception):
                time.sleep(0.02)
                self._ser.reset_input_buffer()

    def _write(self, data: bytes) -> None:
        assert self._ser is not None
        try:
            self._ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise DeviceGone(str(exc)) from exc

    def _read_packet(self, timeout: float) -> Packet:
        assert self._ser is not None
        buf = self._rx
        end = time.monotonic() + timeout
        while True:
            got = decode(buf)
            if got is not None:
                packet, used = got
                del buf[:used]
                if packet.address != self.cfg.address:
                    raise PacketError("bad-address", f"{packet.address:#010x}")
                return packet
            if time.monotonic() > end:
                raise TimeoutError(f"no complete packet within {timeout:.1f} s ({len(buf)} bytes)")
            try:
                # whatever has arrived, else block (up to the port timeout) for the first byte
                chunk = self._ser.read(min(4096, max(1, self._ser.in_waiting)))
            except (serial.SerialException, OSError) as exc:
                raise DeviceGone(str(exc)) from exc
            buf += chunk

    def _transact(self, cmd: int, params: bytes = b"") -> tuple[int, bytes]:
        """Send a command, return (confirmation code, the acknowledge's data)."""
        assert self._ser is not None
        self._rx.clear()
        with contextlib.suppress(Exception):
            self._ser.reset_input_buffer()
        self._write(command(cmd, params, self.cfg.address))
        ack = self._read_packet(self.cfg.reply_timeout)
        if ack.pid != Pid.ACK or not ack.payload:
            raise PacketError("bad-pid", f"expected an acknowledge, got packet id {ack.pid:#04x}")
        return ack.payload[0], ack.payload[1:]

    def _upload_image(self) -> np.ndarray:
        confirm, _ = self._transact(Cmd.UP_IMAGE)
        if confirm != 0:
            raise PacketError("refused", f"UpImage: {CONFIRMATION.get(confirm, hex(confirm))}")
        data = bytearray()
        width, height = self.image_size
        limit = width * height // 2
        while True:
            p = self._read_packet(self.cfg.reply_timeout)
            if p.pid not in (Pid.DATA, Pid.END):
                raise PacketError("bad-pid", f"expected image data, got packet id {p.pid:#04x}")
            data += p.payload
            if len(data) > limit:
                raise PacketError("bad-length", f"image longer than {limit} bytes")
            if p.pid == Pid.END:
                return unpack_image(bytes(data), width, height)

    # ---- contract -------------------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        p = self._params
        extra: dict[str, Any] = {"port": self.cfg.port, "image": list(self.image_size), "ppi": 500}
        if p:
            extra.update(library_size=p.library_size, packet_size=p.packet_size, security_level=p.security_level)
        return DeviceInfo(DeviceKind.FINGERPRINT, self.name, make="ZhianTec/Grow",
                          model=self._product.get("model") or "R30x/ZFM",
                          serial=self._product.get("serial") or "unknown",
                          firmware=self._product.get("hardware") or "unknown", extra=extra)

    def _failed(self, exc: Exception) -> CaptureResult | None:
        if isinstance(exc, DeviceGone):
            return self._gone(f"port failed: {exc}")
        if isinstance(exc, PacketError | TimeoutError):
            self._flush()
            code = ErrorCode.TIMEOUT if isinstance(exc, TimeoutError) else ErrorCode.PROTOCOL_ERROR
            return CaptureResult.fail(code, str(exc))
        return None

    def _take(self, timeout: float) -> CaptureResult:
        """Poll GenImg until a finger is on the glass (or `timeout`), then upload the image."""
        deadline = time.monotonic() + timeout
        last = 0x02
        while True:
            confirm, _ = self._transact(Cmd.GEN_IMG)
            if confirm == 0:
                break
            last = confirm
            if confirm not in (0x02, 0x03, 0x15):
                return CaptureResult.fail(ErrorCode.PROTOCOL_ERROR,
                                          f"GenImg: {CONFIRMATION.get(confirm, hex(confirm))}")
            if time.monotonic() + self.cfg.poll_interval >= deadline:
                why = CONFIRMATION.get(last, hex(last))
                return CaptureResult.fail(ErrorCode.NO_SAMPLE, f"no image before the timeout ({why})")
            time.sleep(self.cfg.poll_interval)
        img = self._upload_image()
        return CaptureResult(Sample(DeviceKind.FINGERPRINT, img, meta={"ppi": 500, "backend": self.name}))

    def _await_clear(self, timeout: float) -> bool:
        """Poll GenImg until it finds no finger (0x02): the module has no other way to tell over the UART."""
        deadline = time.monotonic() + timeout
        while True:
            confirm, _ = self._transact(Cmd.GEN_IMG)
            if confirm == 0x02:
                return True
            if time.monotonic() + self.cfg.poll_interval >= deadline:
                return False
            time.sleep(self.cfg.poll_interval)


BACKEND = R30xFingerprint
