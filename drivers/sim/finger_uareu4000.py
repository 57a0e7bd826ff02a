"""A U.are.U 4000B/4500 as a pyusb backend: `usb.core.find(backend=...)` finds it, transfers reach it.

Why an IBackend: the driver's real pyusb code (descriptors, claiming, control/interrupt/bulk
transfers, USBError handling) runs unchanged; only libusb is replaced. The simulated reader keeps
the registers the driver uses (HWSTAT power bits, MODE, scramble index/key, device info), raises the
power-up and finger interrupts, and sends frames with the real header, blocks (one not present) and,
like a 4000B/4500, scrambled lines. Misbehaviour on request: stall, short read, garbage header,
silence (timeout), the 0x0800 interrupt; `unplug()` makes every open handle fail with ENODEV.
Images: synthetic prints, or files as for the R30x simulator ($BORDERPOST_SIM_FINGER_IMAGES).
"""

from __future__ import annotations

import errno
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import usb.backend
import usb.core

from drivers import usb_backends
from drivers.backends import _finger_uareu4000_wire as wire
from drivers.backends.finger_uareu4000 import Config

# The sensor's side of a frame, written from libfprint's uru4000 driver (its decoder, read backwards) and not
# shared with the backend's wire module; tests/drivers/golden_uareu.py holds byte vectors both sides must meet.
WIDTH = 384
BLOCKF_CHANGE_KEY, BLOCKF_ENCRYPTED, BLOCKF_NOT_PRESENT = 0x80, 0x02, 0x01


TAPS = 0x9248144D
MASK_BITS = (4, 8, 11, 14, 18, 21, 24, 29)     # key bits that make the mask byte, bit 0 first


def lfsr_step(key: int) -> int:
    """The scrambler's shift register: the parity of the tapped bits enters at bit 31."""
    return (((key & TAPS).bit_count() & 1) << 31) | (key >> 1)


def lfsr_skip(key: int, steps: int) -> int:
    for _ in range(steps):
        key = (((key & TAPS).bit_count() & 1) << 31) | (key >> 1)
    return key


def mask_bytes(keys: np.ndarray) -> np.ndarray:
    """The byte that masks one data byte under each key state."""
    out = np.zeros(len(keys), np.uint8)
    for i, b in enumerate(MASK_BITS):
        out |= (((keys >> np.uint32(b)) & np.uint32(1)) << np.uint32(i)).astype(np.uint8)
    return out


def sensor_scramble(plain: np.ndarray, key: int) -> tuple[np.ndarray, int]:
    """What the sensor sends for one encrypted block, and the key after it (one step per byte).

    The host decodes byte i as sent[i + 1] XOR mask(key_i); so the sensor sends plain[i] XOR mask(key_i) one
    byte later, and its first byte carries nothing (the host's last decoded byte is lost).
    """
    states = []
    for _ in range(max(0, len(plain) - 1)):
        states.append(key)
        key = (((key & TAPS).bit_count() & 1) << 31) | (key >> 1)
    if len(plain):
        key = lfsr_step(key)
    sent = np.zeros_like(plain)
    sent[1:] = plain[:-1] ^ mask_bytes(np.array(states, np.uint32))
    return sent, key


def frame_header(num_lines: int, key_number: int, blocks: list[list[int]]) -> bytes:
    """The 64-byte frame header: line count (LE) at 4, key number at 6, (flags, lines) pairs from 16."""
    h = bytearray(64)
    h[4:6] = num_lines.to_bytes(2, "little")
    h[6] = key_number & 0xFF
    for i, (flags, lines) in enumerate(blocks[:15]):
        h[16 + 2 * i], h[17 + 2 * i] = flags, lines
    return bytes(h)


FAULTS = ("stall", "short-read", "partial-frame", "garbage", "silence", "death-irq")
_ids = itertools.count(1)


def _err(code: int, text: str) -> usb.core.USBError:
    return usb.core.USBError(text, error_code={errno.ENODEV: -4, errno.EPIPE: -9}.get(code, -1), errno=code)


def fit(img: np.ndarray) -> np.ndarray:
    """Any grey print → a 290×384 frame (centre crop / pad with white)."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    out = np.full((wire.HEIGHT, wire.WIDTH), 255, np.uint8)
    h, w = img.shape
    ch, cw = min(h, wire.HEIGHT), min(w, wire.WIDTH)
    y0, x0, oy, ox = (h - ch) // 2, (w - cw) // 2, (wire.HEIGHT - ch) // 2, (wire.WIDTH - cw) // 2
    out[oy : oy + ch, ox : ox + cw] = img[y0 : y0 + ch, x0 : x0 + cw]
    return out


@dataclass
class Reader:
    """The device-side state of one simulated reader."""

    product_id: int = 0x000A
    serial: str = "SIM-0001"
    encrypt: bool = True
    hwstat: int = 0x80
    mode: int = wire.MODE_INIT
    regs: dict[int, int] = field(default_factory=dict)
    irqs: deque[int] = field(default_factory=deque)
    key_index: tuple[int, int] = (0, 0)           # (key number, seed) last written to 0x33
    powerup_irq: bool = True                      # False: the 0x56aa interrupt never comes (a sick reader)
    frame: bytes | None = None


class UareUBackend(usb.backend.IBackend):
    def __init__(self, reader: Reader, images: list[np.ndarray]) -> None:
        self.reader = reader
        self.images = images
        self.plugged = True
        self.generation = 0
        self.frames_sent = 0
        self._cond = threading.Condition()
        self._finger_held: np.ndarray | None = None
        self._presented: deque[np.ndarray] = deque()
        self._faults: deque[str] = deque()
        self._next = 0
        self._compliant: tuple[np.ndarray | None] | None = None   # (the image to place again, None: the next one)
        self._lifted = False
        self._keys = {n: (0x9E3779B9 * (n + 1)) & 0xFFFFFFFF for n in range(256)}

    # ---- descriptors ----------------------------------------------------------------------------

    def enumerate_devices(self):
        if self.plugged:
            yield SimpleNamespace(generation=self.generation)

    def get_device_descriptor(self, dev: Any) -> Any:
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0110, bDeviceClass=0, bDeviceSubClass=0, bDeviceProtocol=0,
            bMaxPacketSize0=8, idVendor=wire.VENDOR_ID, idProduct=self.reader.product_id, bcdDevice=0x0100,
            iManufacturer=1, iProduct=2, iSerialNumber=3, bNumConfigurations=1, address=7, bus=1,
            port_number=1, port_numbers=(1,), speed=2)

    def get_configuration_descriptor(self, dev: Any, config: int) -> Any:
        if config != 0:
            raise IndexError("one configuration")
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
                               bConfigurationValue=1, iConfiguration=0, bmAttributes=0xA0, bMaxPower=50,
                               extra_descriptors=[])

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("one interface")
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                               bNumEndpoints=2, bInterfaceClass=255, bInterfaceSubClass=255,
                               bInterfaceProtocol=255, iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> Any:
        eps = [(wire.EP_INTR, 0x03, 64, 5), (wire.EP_DATA, 0x02, 64, 0)]
        if ep >= len(eps):
            raise IndexError("two endpoints")
        addr, attrs, size, interval = eps[ep]
        return SimpleNamespace(bLength=7, bDescriptorType=5, bEndpointAddress=addr, bmAttributes=attrs,
                               wMaxPacketSize=size, bInterval=interval, bRefresh=0, bSynchAddress=0,
                               extra_descriptors=[])

    # ---- handles --------------------------------------------------------------------------------

    def _check(self, handle: Any) -> None:
        if not self.plugged or handle.generation != self.generation:
            raise _err(errno.ENODEV, "No such device (it may have been disconnected)")

    def open_device(self, dev: Any) -> Any:
        self._check(dev)
        return SimpleNamespace(generation=dev.generation)

    def close_device(self, dev_handle: Any) -> None:
        pass

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        self._check(dev_handle)

    def get_configuration(self, dev_handle: Any) -> int:
        self._check(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: Any, intf: int, altsetting: int) -> None:
        self._check(dev_handle)

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        self._check(dev_handle)

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        pass

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        return False

    def clear_halt(self, dev_handle: Any, ep: int) -> None:
        self._check(dev_handle)

    def reset_device(self, dev_handle: Any) -> None:
        self._check(dev_handle)

    # ---- transfers ------------------------------------------------------------------------------

    def ctrl_transfer(self, dev_handle: Any, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                      data: Any, timeout: int) -> int:
        self._check(dev_handle)
        if bmRequestType == 0x80 and bRequest == 6 and wValue >> 8 == 3:  # GET_DESCRIPTOR (string)
            return self._fill(data, self._string(wValue & 0xFF))
        if bRequest != wire.USB_RQ or bmRequestType not in (wire.CTRL_IN, wire.CTRL_OUT):
            raise _err(errno.EPIPE, "Pipe error (request not supported)")
        with self._cond:
            if bmRequestType == wire.CTRL_OUT:
                self._write_regs(wValue, bytes(data))
                return len(data)
            return self._fill(data, self._read_regs(wValue, len(data)))

    @staticmethod
    def _fill(buf: Any, payload: bytes) -> int:
        n = min(len(buf), len(payload))
        buf[:n] = type(buf)(buf.typecode, payload[:n])
        return n

    def _string(self, index: int) -> bytes:
        if index == 0:
            return bytes([4, 3, 0x09, 0x04])
        text = {1: "DigitalPersona, Inc.", 2: "U.are.U® 4500 Fingerprint Reader", 3: self.reader.serial}.get(index, "")
        enc = text.encode("utf-16-le")
        return bytes([2 + len(enc), 3]) + enc

    def _read_regs(self, reg: int, n: int) -> bytes:
        r = self.reader
        if reg == wire.REG_HWSTAT:
            return bytes([r.hwstat])
        if reg == wire.REG_SCRAMBLE_KEY:
            number, seed = r.key_index
            return ((self._keys[number] ^ seed) & 0xFFFFFFFF).to_bytes(4, "little")[:n]
        if reg == wire.REG_DEVICE_INFO:
            return bytes([0, 0, 0, 0, 0x01, 0x20, 0, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0])[:n]
        return bytes(r.regs.get(reg + i, 0) for i in range(n))

    def _write_regs(self, reg: int, values: bytes) -> None:
        r = self.reader
        if reg == wire.REG_HWSTAT and values:
            was_low_power = r.hwstat & 0x80
            r.hwstat = values[0] & 0x8F
            if r.hwstat & 0x84 == 0x04:
                r.hwstat |= 0x01  # power state rebooted
            if was_low_power and not r.hwstat & 0x80 and r.powerup_irq:
                r.irqs.append(wire.IRQ_SCANPWR_ON)
        elif reg == wire.REG_SCRAMBLE_INDEX and len(values) == 5:
            r.key_index = (values[0], int.from_bytes(values[1:5], "little"))
        elif reg == wire.REG_MODE and values:
            self._set_mode(values[0])
        else:
            for i, v in enumerate(values):
                r.regs[reg + i] = v
        self._cond.notify_all()

    def _set_mode(self, mode: int) -> None:
        r = self.reader
        r.mode = mode
        if mode == wire.MODE_OFF:
            r.hwstat |= 0x80
        elif mode == wire.MODE_AWAIT_FINGER_ON:
            self._drop_irq(wire.IRQ_FINGER_ON)
            if self._compliant is not None and self._lifted:   # asked for the next finger: it comes
                self._finger_held, self._lifted = self.pick(self._compliant[0]), False
            if self._presented or self._finger_held is not None:
                r.irqs.append(wire.IRQ_FINGER_ON)
        elif mode == wire.MODE_AWAIT_FINGER_OFF:
            self._drop_irq(wire.IRQ_FINGER_OFF)
            if self._finger_held is None:          # a tap is gone once taken
                r.irqs.append(wire.IRQ_FINGER_OFF)
        elif mode == wire.MODE_CAPTURE:
            img = self._presented.popleft() if self._presented else self._finger_held
            # with nothing on the glass the sensor still takes a frame: an empty one
            r.frame = self._make_frame(img if img is not None else np.full((wire.HEIGHT, wire.WIDTH), 255, np.uint8))

    def _drop_irq(self, kind: int) -> None:
        kept = [i for i in self.reader.irqs if i != kind]
        self.reader.irqs.clear()
        self.reader.irqs.extend(kept)

    def intr_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        self._check(dev_handle)
        end = time.monotonic() + (timeout or 5000) / 1000
        with self._cond:
            if (self._compliant is not None and self._finger_held is not None
                    and self.reader.mode == wire.MODE_AWAIT_FINGER_OFF):
                self._lift()                       # the host waits for the lift: the kiosk asks, they lift
            while not self.reader.irqs:
                left = end - time.monotonic()
                if left <= 0:
                    raise usb.core.USBTimeoutError("Operation timed out", error_code=-7, errno=errno.ETIMEDOUT)
                self._cond.wait(min(left, 0.05))
                self._check(dev_handle)
            kind = self.reader.irqs.popleft()
        return self._fill(buff, kind.to_bytes(2, "big") + bytes(wire.IRQ_LENGTH - 2))

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        self._check(dev_handle)
        fault = self._faults.popleft() if self._faults else None
        frame, self.reader.frame = self.reader.frame, None
        if fault == "stall":
            raise _err(errno.EPIPE, "Pipe error")
        if fault == "silence" or frame is None:
            time.sleep((timeout or 1000) / 1000)
            raise usb.core.USBTimeoutError("Operation timed out", error_code=-7, errno=errno.ETIMEDOUT)
        if fault == "short-read":
            frame = frame[: len(frame) // 3]
        if fault == "partial-frame":  # the header promises more lines than arrive
            frame = frame[: len(frame) - 10 * wire.WIDTH]
        if fault == "garbage":
            frame = bytes(np.random.default_rng(7).integers(0, 256, len(frame), dtype=np.uint8))
        self.frames_sent += 1
        return self._fill(buff, frame)

    def _make_frame(self, img: np.ndarray) -> bytes:
        """Header + lines as the sensor sends them: inverted, one not-present block, scrambled if 4000B."""
        raw = 255 - img
        if self.reader.product_id == 0x000A:
            raw = raw[::-1, ::-1]
        plan = [(0, 20), (0, 2, True), (0, 28)] + [(0, 30)] * 8  # (flags, lines[, not present])
        key_number = self._next % 200
        blocks, rows, line, out_line = [], [], 0, 0
        for entry in plan:
            lines, absent = entry[1], len(entry) == 3
            flags = wire.BLOCK_NOT_PRESENT if absent else 0
            if not absent:
                rows.append(raw[out_line : out_line + lines])
                line += lines
            blocks.append([flags, lines])
            out_line += lines
        data = np.concatenate(rows).reshape(-1)
        if self.reader.encrypt:
            data = self._scramble(data, blocks, key_number)
        return frame_header(line, key_number, blocks) + data.tobytes()

    def _scramble(self, data: np.ndarray, blocks: list[list[int]], key_number: int) -> np.ndarray:
        """Encrypt present blocks; the 4th block is left plain (key advances), the 6th changes key."""
        out, key, line = data.copy(), self._keys[key_number], 0
        for i, block in enumerate(blocks):
            lines = block[1]
            if i == 5:
                block[0] |= BLOCKF_CHANGE_KEY
                key = self._keys[(key_number + 1) & 0xFF]
            n, a = lines * WIDTH, line * WIDTH
            if block[0] & BLOCKF_NOT_PRESENT or i == 3:
                key = lfsr_skip(key, n)    # plain and not-present blocks still advance the key
            else:
                block[0] |= BLOCKF_ENCRYPTED
                out[a : a + n], key = sensor_scramble(data[a : a + n], key)
            if not block[0] & BLOCKF_NOT_PRESENT:
                line += lines
        return out

    # ---- controls -------------------------------------------------------------------------------

    def pick(self, image: np.ndarray | None) -> np.ndarray:
        if image is not None:
            return fit(image)
        img = self.images[self._next % len(self.images)]
        self._next += 1
        return img

    def present(self, image: np.ndarray | None) -> None:
        with self._cond:
            self._presented.append(self.pick(image))
            if self.reader.mode == wire.MODE_AWAIT_FINGER_ON and wire.IRQ_FINGER_ON not in self.reader.irqs:
                self.reader.irqs.append(wire.IRQ_FINGER_ON)
            self._cond.notify_all()

    def hold(self, image: np.ndarray | None, compliant: tuple[np.ndarray | None] | None = None) -> None:
        with self._cond:
            self._finger_held = None if image is None else image
            self._compliant, self._lifted = compliant, False
            if (image is not None and self.reader.mode == wire.MODE_AWAIT_FINGER_ON
                    and wire.IRQ_FINGER_ON not in self.reader.irqs):
                self.reader.irqs.append(wire.IRQ_FINGER_ON)
            self._cond.notify_all()

    def _lift(self) -> None:
        """The finger leaves the glass (the caller holds the condition)."""
        self._finger_held, self._lifted = None, True
        if self.reader.mode == wire.MODE_AWAIT_FINGER_OFF and wire.IRQ_FINGER_OFF not in self.reader.irqs:
            self.reader.irqs.append(wire.IRQ_FINGER_OFF)
        self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._compliant = None
            self._presented.clear()
            self._lift()


class UareUSimulation:
    def __init__(self, config: Config, images: list[np.ndarray | str | Path] | str | Path | None = None, *,
                 product_id: int = 0x000A,
                 encrypt: bool = True, initial_hwstat: int = 0x80, powerup_irq: bool = True) -> None:
        from drivers.sim.finger_r30x import load_images, synthetic_images

        imgs = [fit(i) for i in (load_images(images) or synthetic_images(shape=(wire.HEIGHT, 320)))]
        reader = Reader(product_id=product_id, encrypt=encrypt, hwstat=initial_hwstat, powerup_irq=powerup_irq)
        self.backend = UareUBackend(reader, imgs)
        self.id = f"uru{next(_ids)}"
        usb_backends.register(f"sim:{self.id}", self.backend)
        self.config = config.model_copy(update={"usb_backend": f"sim:{self.id}"})

    def present(self, image: np.ndarray | None = None) -> None:
        self.backend.present(image)

    def finger_on(self, image: np.ndarray | None = None, *, compliant: bool = False) -> None:
        """A finger rests on the glass until finger_off(); `compliant`: a traveller who follows the kiosk, lifting
        when the host waits for the finger to leave and placing the next finger (`image` again, else the next
        image) when it waits for one."""
        self.backend.hold(self.backend.pick(image), (image,) if compliant else None)

    def finger_off(self) -> None:
        self.backend.clear()

    def misbehave(self, mode: str, times: int = 1) -> None:
        if mode not in FAULTS:
            raise ValueError(f"unknown misbehaviour {mode!r} (known: {', '.join(FAULTS)})")
        if mode == "death-irq":
            with self.backend._cond:
                self.backend.reader.irqs.append(wire.IRQ_DEATH)
            return
        self.backend._faults.extend([mode] * times)

    def unplug(self) -> None:
        with self.backend._cond:
            self.backend.plugged = False
            self.backend.generation += 1
            self.backend._cond.notify_all()

    def replug(self) -> None:
        with self.backend._cond:
            r = self.backend.reader
            r.hwstat, r.mode, r.frame = 0x80, wire.MODE_INIT, None
            r.irqs.clear()
            self.backend.plugged = True

    def close(self) -> None:
        usb_backends.unregister(f"sim:{self.id}")


def start(config: Config, images: list[np.ndarray | str | Path] | str | Path | None = None,
          **kw: Any) -> UareUSimulation:
    return UareUSimulation(config, images, **kw)
