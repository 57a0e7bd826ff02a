"""Wire format of the DigitalPersona U.are.U 4000/4000B/4500 readers: pure functions, no I/O.

Learnt from libfprint's reverse-engineered `uru4000` driver (LGPL; no code copied). Registers are
read and written with vendor control request 0x04 (wValue = register). Interrupts (64 bytes, type in
the first two bytes, big-endian) report power-up and finger on/off. A frame is one bulk transfer: a
64-byte header, then up to 290 lines of 384 pixels. The header lists up to 15 blocks of lines, each
with flags (not present, encrypted, no key update, change key). The 4000B/4500 scramble encrypted
blocks with a 32-bit LFSR keystream; the key is read from a register after writing a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

VENDOR_ID = 0x05BA
MODELS: dict[int, tuple[str, bool]] = {          # product id -> (model, image needs a 180° turn)
    0x0007: ("U.are.U 4000", False),
    0x0008: ("U.are.U 4000 (keyboard)", False),
    0x000A: ("U.are.U 4000B/4500", True),
}
EP_INTR, EP_DATA = 0x81, 0x82
USB_RQ = 0x04
CTRL_IN, CTRL_OUT = 0xC0, 0x40                   # vendor, device recipient
IRQ_LENGTH = 64
WIDTH, HEIGHT = 384, 290
HEADER_LEN = 64
FRAME_LEN = HEADER_LEN + WIDTH * HEIGHT
ENC_THRESHOLD = 5000                             # line-pair variance above which a frame is scrambled
PPI = 512

REG_HWSTAT = 0x07
REG_SCRAMBLE_INDEX = 0x33
REG_SCRAMBLE_KEY = 0x34
REG_MODE = 0x4E
REG_DEVICE_INFO = 0xF0

MODE_INIT = 0x00
MODE_AWAIT_FINGER_ON = 0x10
MODE_AWAIT_FINGER_OFF = 0x12
MODE_CAPTURE = 0x20
MODE_OFF = 0x70
MODE_READY = 0x80

IRQ_SCANPWR_ON = 0x56AA
IRQ_FINGER_ON = 0x0101
IRQ_FINGER_OFF = 0x0200
IRQ_DEATH = 0x0800

BLOCK_NOT_PRESENT = 0x01
BLOCK_ENCRYPTED = 0x02
BLOCK_NO_KEY_UPDATE = 0x04
BLOCK_CHANGE_KEY = 0x80

LFSR_TAPS = 0x9248144D
XOR_BITS = (4, 8, 11, 14, 18, 21, 24, 29)       # key bits that form each keystream byte, LSB first


class FrameError(ValueError):
    """A frame that cannot be decoded (short transfer, impossible header)."""


@dataclass(frozen=True)
class FrameHeader:
    num_lines: int                               # lines actually transferred
    key_number: int
    blocks: tuple[tuple[int, int], ...]          # (flags, lines), up to the first zero-length block

    @classmethod
    def parse(cls, frame: bytes) -> FrameHeader:
        if len(frame) < HEADER_LEN:
            raise FrameError(f"short frame: {len(frame)} bytes, header needs {HEADER_LEN}")
        num_lines = int.from_bytes(frame[4:6], "little")
        blocks = []
        for i in range(15):
            flags, lines = frame[16 + 2 * i], frame[17 + 2 * i]
            if lines == 0:
                break
            blocks.append((flags, lines))
        if num_lines >= HEIGHT:
            raise FrameError(f"header says {num_lines} lines; the sensor has {HEIGHT}")
        if len(frame) < HEADER_LEN + num_lines * WIDTH:
            raise FrameError(f"short frame: {len(frame)} bytes for {num_lines} lines")
        if sum(n for _, n in blocks) > HEIGHT:
            raise FrameError("blocks describe more lines than the sensor has")
        return cls(num_lines, frame[6], tuple(blocks))

    def to_bytes(self) -> bytes:
        h = bytearray(HEADER_LEN)
        h[4:6] = self.num_lines.to_bytes(2, "little")
        h[6] = self.key_number & 0xFF
        for i, (flags, lines) in enumerate(self.blocks[:15]):
            h[16 + 2 * i], h[17 + 2 * i] = flags, lines
        return bytes(h)


def irq_type(data: bytes) -> int:
    if len(data) < 2:
        raise FrameError(f"interrupt of {len(data)} bytes")
    return int.from_bytes(data[:2], "big")


def update_key(key: int) -> int:
    """One LFSR step (reference, scalar): parity of the tapped bits enters at bit 31."""
    bit = bin(key & LFSR_TAPS).count("1") & 1
    return ((bit << 31) | (key >> 1)) & 0xFFFFFFFF


@lru_cache(maxsize=1)
def _stream_masks(length: int = FRAME_LEN + 64) -> np.ndarray:
    """For each keystream bit position, which bits of the starting key it is the XOR of (GF(2) linear)."""
    masks = [1 << i for i in range(32)]
    taps = [t for t in range(32) if LFSR_TAPS >> t & 1]
    for n in range(length):
        m = 0
        for t in taps:
            m ^= masks[n + t]
        masks.append(m)
    return np.array(masks, dtype=np.uint32)


def keystream(key: int, start: int, count: int) -> np.ndarray:
    """The XOR bytes for LFSR states start..start+count-1 from `key` (vectorised; one state per byte)."""
    masks = _stream_masks()
    if start + count + 32 > len(masks):
        raise FrameError("keystream beyond one frame")
    x = masks[start : start + count + 32] & np.uint32(key)
    for shift in (16, 8, 4, 2, 1):  # parity by folding (np.bitwise_count needs numpy 2)
        x ^= x >> np.uint32(shift)
    bits = (x & np.uint32(1)).astype(np.uint8)
    out = np.zeros(count, np.uint8)
    for i, b in enumerate(XOR_BITS):
        out |= bits[b : b + count] << i
    return out


def descramble(data: np.ndarray, key: int, pos: int) -> np.ndarray:
    """Undo one encrypted block: each byte is the next byte XOR the keystream; the last byte is lost (0)."""
    out = np.zeros_like(data)
    if len(data) > 1:
        out[:-1] = data[1:] ^ keystream(key, pos, len(data) - 1)
    return out


def scramble(plain: np.ndarray, key: int, pos: int) -> np.ndarray:
    """What the sensor sends for an encrypted block (the inverse of `descramble`, for the simulator)."""
    out = np.zeros_like(plain)
    if len(plain) > 1:
        out[1:] = plain[:-1] ^ keystream(key, pos, len(plain) - 1)
    return out


def line_variance(frame: bytes, header: FrameHeader) -> int:
    """libfprint's scramble test: variance of the sum of the first two present lines."""
    rows = np.frombuffer(frame, np.uint8, count=header.num_lines * WIDTH, offset=HEADER_LEN)
    rows = rows.reshape(-1, WIDTH)
    if len(rows) < 2:
        return 0
    s = rows[0].astype(np.int64) + rows[1]
    mean = int(s.sum()) // WIDTH
    return int(((s - mean) ** 2).sum()) // WIDTH


def assemble(data: np.ndarray, header: FrameHeader) -> np.ndarray:
    """290×384 image from the transferred lines; a block marked not-present repeats the next lines."""
    img = np.zeros((HEIGHT, WIDTH), np.uint8)
    to = r = 0
    for flags, lines in header.blocks:
        if r >= header.num_lines:
            break
        take = data[r : r + lines]
        img[to : to + len(take)] = take
        if not flags & BLOCK_NOT_PRESENT:
            r += lines
        to += lines
    return img
