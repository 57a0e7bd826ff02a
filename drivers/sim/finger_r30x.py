"""A ZFM/R30x fingerprint module on a pseudo-terminal: the backend talks to it exactly as to the UART.

Why a PTY: the backend's real serial code (pyserial, timeouts, flushing, port loss) runs unchanged.
The port is a stable symlink to the current /dev/pts/N, so `unplug()` (the PTY closes: reads fail
with EIO, the path vanishes) and `replug()` (a new PTY behind the same path) behave like a USB-serial
adapter being pulled and put back. Misbehaviour on request: bad checksum, garbage, a stalled reply,
a partial or short image. Images are synthetic prints unless others are given (arrays, files, a
directory or a glob; or $BORDERPOST_SIM_FINGER_IMAGES for a configured `simulated = true` device).
"""

from __future__ import annotations

import contextlib
import glob
import os
import select
import tempfile
import threading
import tty
from collections import deque
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from drivers import safe_image
from drivers.backends.finger_r30x import Config

# The module's side of the wire, written from the ZhianTec/Grow R30x and R503 datasheets rather than shared with
# the driver's packet code (tests/drivers/golden_r30x.py holds the datasheets' packet examples for both sides).
HEADER = b"\xef\x01"
PID_COMMAND, PID_DATA, PID_ACK, PID_END = 0x01, 0x02, 0x07, 0x08
GEN_IMG, UP_IMAGE, READ_SYS_PARA, VFY_PWD, TEMPLATE_NUM, READ_PROD_INFO, HANDSHAKE = (
    0x01, 0x0A, 0x0F, 0x13, 0x1D, 0x3C, 0x40)
SENSOR_SIZE = {"R305": (256, 288), "R307": (256, 288), "R503": (192, 192)}   # width, height per datasheet


def packet(pid: int, payload: bytes, address: int) -> bytes:
    """EF 01, address (4, big-endian), packet id, length = payload + 2, payload, sum of id..payload (2 bytes)."""
    length = len(payload) + 2
    body = bytes([pid]) + length.to_bytes(2, "big") + payload
    return HEADER + address.to_bytes(4, "big") + body + (sum(body) & 0xFFFF).to_bytes(2, "big")


def next_command(buf: bytearray) -> tuple[str, int, bytes] | None:
    """Take one host packet off `buf`: ("ok", address, payload), ("bad", 0, b"") or None (need more bytes)."""
    if len(buf) < 9:
        return None
    length = int.from_bytes(buf[7:9], "big")
    if buf[:2] != HEADER or buf[6] != PID_COMMAND or not 3 <= length <= 256:
        return "bad", 0, b""
    if len(buf) < 9 + length:
        return None
    body, got = bytes(buf[6 : 7 + length]), int.from_bytes(buf[7 + length : 9 + length], "big")
    address = int.from_bytes(buf[2:6], "big")
    del buf[: 9 + length]
    return ("ok" if sum(body) & 0xFFFF == got else "bad"), address, body[3:]


def pack_nibbles(img: np.ndarray) -> bytes:
    """UpImage data: one byte holds two pixels, the left one in the high nibble (4-bit grey)."""
    grey4 = img.reshape(-1) // 16
    return (grey4[0::2] * 16 + grey4[1::2]).astype(np.uint8).tobytes()


IMAGE_FAULTS = ("partial-frame", "short-image", "refuse-image")
MODES = ("bad-checksum", "garbage", "stall", "partial-frame", "short-image", "refuse-image")


@lru_cache(maxsize=4)
def _synthetic(n: int, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    from drivers.sim import finger_synth as synth  # late: only image-less simulators need it

    return tuple(synth.master(200 + i, shape) for i in range(n))


def synthetic_images(n: int = 3, shape: tuple[int, int] = (288, 256)) -> list[np.ndarray]:
    """Synthetic prints (never a real person's), generated once per process."""
    return list(_synthetic(n, shape))


ENV_IMAGES = "BORDERPOST_SIM_FINGER_IMAGES"   # a directory or glob of prints for `simulated = true` devices


def load_images(spec: list[np.ndarray | str | Path] | str | Path | None) -> list[np.ndarray]:
    """Prints for a simulator: arrays, files, directories or globs (default: $BORDERPOST_SIM_FINGER_IMAGES)."""
    if spec is None:
        spec = os.environ.get(ENV_IMAGES) or []
    items = [spec] if isinstance(spec, str | Path) else list(spec)
    out: list[np.ndarray] = []
    for item in items:
        if isinstance(item, np.ndarray):
            out.append(item)
            continue
        p = Path(item)
        paths = sorted(p.glob("*.png")) + sorted(p.glob("*.bmp")) if p.is_dir() else sorted(
            Path(x) for x in glob.glob(str(p)))
        for f in paths:
            try:
                img = safe_image.read_file(f, unchanged=True)
            except safe_image.ImageRejected:
                continue
            if img.dtype == np.uint8:
                out.append(img)
    return out


def fit(img: np.ndarray, size: tuple[int, int] = (256, 288)) -> np.ndarray:
    """Any grey print → the sensor's frame of `size` (width, height): centre crop / pad with white."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    fw, fh = size
    out = np.full((fh, fw), 255, np.uint8)
    h, w = img.shape
    ch, cw = min(h, fh), min(w, fw)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    oy, ox = (fh - ch) // 2, (fw - cw) // 2
    out[oy : oy + ch, ox : ox + cw] = img[y0 : y0 + ch, x0 : x0 + cw]
    return out


class R30xSimulation:
    def __init__(self, config: Config, images: list[np.ndarray | str | Path] | str | Path | None = None, *,
                 model: str = "R307") -> None:
        self._dir = tempfile.mkdtemp(prefix="bp-r30x-")
        self.path = str(Path(self._dir) / "ttyFP0")
        self.config = config.model_copy(update={"port": self.path})
        self.address = config.address
        self.password = config.password
        if model not in SENSOR_SIZE:
            raise ValueError(f"unknown R30x model {model!r} (known: {', '.join(SENSOR_SIZE)})")
        self.size = SENSOR_SIZE[model]
        given = load_images(images)
        self._images = [fit(i, self.size) for i in given] if given else [
            fit(i, self.size) for i in synthetic_images(shape=(self.size[1], self.size[0]))]
        self._next_image = 0
        self._finger_held: np.ndarray | None = None
        self._presented: deque[np.ndarray] = deque()
        self._captured: np.ndarray | None = None
        self._compliant: tuple[np.ndarray | None] | None = None   # (the image to place again, None: the next one)
        self._lifted = False
        self._between_taps = False     # a tap was taken: the glass reads empty once before the next one
        self._faults: deque[str] = deque()
        self.commands: list[int] = []
        self.packet_size = 128
        self.model = model             # "R503" answers ReadProdInfo like the newer modules do
        self._lock = threading.Lock()
        self._master = self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.replug()

    # ---- test controls -----------------------------------------------------------------------------

    def _pick(self, image: np.ndarray | None) -> np.ndarray:
        if image is not None:
            return fit(image, self.size)
        img = self._images[self._next_image % len(self._images)]
        self._next_image += 1
        return img

    def present(self, image: np.ndarray | None = None) -> None:
        """A finger touches the glass for one capture, then leaves (the next GenImg finds the glass empty)."""
        with self._lock:
            self._presented.append(self._pick(image))

    def finger_on(self, image: np.ndarray | None = None, *, compliant: bool = False) -> None:
        """A finger stays on the glass until finger_off(); `compliant`: a traveller who follows the kiosk, lifting
        after each image is taken (the next GenImg finds the glass empty) and then placing the next finger
        (`image` again, else the next image)."""
        with self._lock:
            self._finger_held = self._pick(image)
            self._compliant, self._lifted = ((image,) if compliant else None), False

    def finger_off(self) -> None:
        with self._lock:
            self._finger_held, self._compliant = None, None
            self._presented.clear()

    def misbehave(self, mode: str, times: int = 1) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown misbehaviour {mode!r} (known: {', '.join(MODES)})")
        with self._lock:
            self._faults.extend([mode] * times)

    def unplug(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def replug(self) -> None:
        self.unplug()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        os.symlink(os.ttyname(self._slave), self.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._master, self._stop), daemon=True,
                                        name="sim-finger-r30x")
        self._thread.start()

    def close(self) -> None:
        self.unplug()
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)

    # ---- the module ----------------------------------------------------------------------------------

    def _run(self, fd: int, stop: threading.Event) -> None:
        buf = bytearray()
        while not stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                buf += os.read(fd, 4096)
            except OSError:
                return
            while buf:
                got = next_command(buf)
                if got is None:
                    break
                verdict, address, payload = got
                if verdict == "bad":
                    # like the module: answer "packet receive error" and drop to the next header
                    self._send(fd, self._ack(0x01))
                    nxt = buf.find(HEADER, 1)
                    del buf[: nxt if nxt > 0 else len(buf)]
                    continue
                if address == self.address and payload:
                    self._handle(fd, payload[0], payload[1:])

    def _ack(self, code: int, data: bytes = b"") -> bytes:
        return packet(PID_ACK, bytes([code]) + data, self.address)

    def _send(self, fd: int, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, data)

    def _fault(self, cmd: int) -> str | None:
        """The next queued fault, if it applies to this command (image faults wait for UpImage)."""
        with self._lock:
            if not self._faults:
                return None
            if self._faults[0] in IMAGE_FAULTS and cmd != UP_IMAGE:
                return None
            return self._faults.popleft()

    def _handle(self, fd: int, cmd: int, params: bytes) -> None:
        self.commands.append(cmd)
        fault = self._fault(cmd)
        if fault == "stall":
            return
        if fault == "garbage":
            self._send(fd, bytes(np.random.default_rng().integers(0, 256, 40, dtype=np.uint8)))
            return
        reply = self._reply(fd, cmd, params, fault)
        if reply is None:
            return
        if fault == "bad-checksum":
            reply = reply[:-1] + bytes([reply[-1] ^ 0x5A])
        self._send(fd, reply)

    def _reply(self, fd: int, cmd: int, params: bytes, fault: str | None) -> bytes | None:
        if cmd == VFY_PWD:
            ok = len(params) == 4 and int.from_bytes(params, "big") == self.password
            return self._ack(0x00 if ok else 0x13)
        if cmd == READ_SYS_PARA:
            size_code = {32: 0, 64: 1, 128: 2, 256: 3}[self.packet_size]
            data = (b"\x00\x00" + b"\x00\x09" + (1000).to_bytes(2, "big") + b"\x00\x03"
                    + self.address.to_bytes(4, "big") + size_code.to_bytes(2, "big") + b"\x00\x06")
            return self._ack(0x00, data)
        if cmd == READ_PROD_INFO:
            if self.model != "R503":
                return self._ack(0x01)  # an R307 does not know this command
            info = (b"R503".ljust(16, b"\0") + b"B001" + b"SIM00042" + bytes([1, 2]) + b"OPTICAL\0"
                    + self.size[0].to_bytes(2, "big") + self.size[1].to_bytes(2, "big")
                    + (384).to_bytes(2, "big") + (200).to_bytes(2, "big"))
            return self._ack(0x00, info)
        if cmd in (HANDSHAKE, TEMPLATE_NUM):
            return self._ack(0x00, b"\x00\x00" if cmd == TEMPLATE_NUM else b"")
        if cmd == GEN_IMG:
            with self._lock:
                if self._presented and not self._between_taps:
                    self._captured = self._presented.popleft()
                    self._between_taps = True
                elif self._finger_held is not None:
                    self._captured = self._finger_held
                else:
                    self._between_taps = False
                    if self._compliant is not None and self._lifted:   # seen lifted once: the next finger comes
                        self._finger_held, self._lifted = self._pick(self._compliant[0]), False
                    return self._ack(0x02)
            return self._ack(0x00)
        if cmd == UP_IMAGE:
            if self._captured is None or fault == "refuse-image":
                return self._ack(0x15)
            self._upload(fd, self._captured, fault)
            with self._lock:
                if self._compliant is not None and self._captured is self._finger_held:
                    self._finger_held, self._lifted = None, True    # taken: the traveller lifts
            return None
        return self._ack(0x19)  # no such command

    def _upload(self, fd: int, img: np.ndarray, fault: str | None) -> None:
        data = pack_nibbles(img)
        if fault == "short-image":
            data = data[: len(data) - 3 * self.packet_size]
        chunks = [data[i : i + self.packet_size] for i in range(0, len(data), self.packet_size)]
        if fault == "partial-frame":
            chunks = chunks[: len(chunks) // 2]
        out = bytearray(self._ack(0x00))
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1 and fault != "partial-frame"
            out += packet(PID_END if last else PID_DATA, chunk, self.address)
        self._send(fd, bytes(out))


def start(config: Config, images: list[np.ndarray | str | Path] | str | Path | None = None,
          **kw: str) -> R30xSimulation:
    return R30xSimulation(config, images, **kw)
