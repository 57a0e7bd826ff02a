"""Decode untrusted image bytes without letting a small file claim gigabytes: sizes are read from the header first.

Every image input (data-page photos, portraits, fingerprints, uploads, simulated devices' files) goes through
`check` before any decoder runs. A 69-byte PNG can declare 65535x65535 pixels (a 4 GiB allocation) and a 400 KB
one really holds 20000x20000; OpenCV's own limit (`OPENCV_IO_MAX_IMAGE_PIXELS`) is read once when cv2 is first
imported, so setting it later never applies. Here the header is parsed by hand (pure, a few hundred bytes read)
for the formats the appliance accepts: PNG, JPEG, BMP, TIFF, PNM (PBM/PGM/PPM), GIF, WebP and JPEG 2000.
Anything else is refused: an allow-list, because OpenCV and Pillow also decode formats (EXR, HDR, ...) nobody
here uses.

The memory ceiling follows from the pixel limit: a decoded image takes at most `max_pixels` x 4 channels x
2 bytes (16-bit), 480 MB at the default 60 MP; callers with smaller needs pass a smaller limit. This module lives
in `drivers` (the lowest layer) so the simulated devices can use it too; it imports nothing of `edge`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_PIXELS = 60_000_000           # a 60 MP scan is the largest page photo the appliance takes
MAX_BYTES = 30 * 1024 * 1024      # and 30 MB the largest file
MAX_SIDE = 65_500                 # OpenCV's and libjpeg's own ceiling on one side
HEADER_SCAN = 1 << 20             # JPEG markers / TIFF IFDs further in than this are refused, not searched
# what `check` lets through unless told otherwise: JPEG 2000 only where it is expected (chip portraits), since its
# decoder is the largest attack surface of the lot and no camera or scanner here produces it
DEFAULT_FORMATS = frozenset({"png", "jpeg", "bmp", "tiff", "pnm", "gif", "webp"})


class ImageRejected(ValueError):
    """The bytes are not an image this appliance decodes, or one too large: the message says which."""


@dataclass(frozen=True)
class Header:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _png(d: bytes) -> Header:
    if len(d) < 24 or d[12:16] != b"IHDR":
        raise ImageRejected("PNG without its IHDR header")
    w, h = struct.unpack(">II", d[16:24])
    return Header("png", w, h)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(d: bytes) -> Header:
    i = 2
    end = min(len(d), HEADER_SCAN)
    while i + 4 <= end:
        if d[i] != 0xFF:
            raise ImageRejected("JPEG with a corrupt marker sequence")
        marker = d[i + 1]
        if marker == 0xFF:          # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):
            break                   # end of image / start of scan before any frame header
        (length,) = struct.unpack(">H", d[i + 2:i + 4])
        if length < 2:
            raise ImageRejected("JPEG with a corrupt segment length")
        if marker in _JPEG_SOF:
            if i + 9 > len(d):
                break
            h, w = struct.unpack(">HH", d[i + 5:i + 9])
            return Header("jpeg", w, h)
        i += 2 + length
    raise ImageRejected("JPEG without a frame header")


def _bmp(d: bytes) -> Header:
    if len(d) < 26:
        raise ImageRejected("BMP header truncated")
    (size,) = struct.unpack("<I", d[14:18])
    if size == 12:
        w, h = struct.unpack("<HH", d[18:22])
    elif size >= 40:
        w, h = struct.unpack("<ii", d[18:26])
    else:
        raise ImageRejected("BMP with an unknown header")
    if w < 0:
        raise ImageRejected("BMP with a negative width")
    return Header("bmp", w, abs(h))


def _tiff(d: bytes) -> Header:
    order = "<" if d[:2] == b"II" else ">"
    if len(d) < 8:
        raise ImageRejected("TIFF header truncated")
    (magic,) = struct.unpack(order + "H", d[2:4])
    if magic != 42:
        raise ImageRejected("BigTIFF and other TIFF variants are not accepted")
    (ifd,) = struct.unpack(order + "I", d[4:8])
    if ifd + 2 > min(len(d), HEADER_SCAN):
        raise ImageRejected("TIFF directory outside the file")
    (count,) = struct.unpack(order + "H", d[ifd:ifd + 2])
    dims: dict[int, int] = {}
    for k in range(count):
        e = ifd + 2 + 12 * k
        if e + 12 > len(d):
            raise ImageRejected("TIFF directory truncated")
        tag, typ = struct.unpack(order + "HH", d[e:e + 4])
        if tag in (256, 257):
            if typ == 3:
                (dims[tag],) = struct.unpack(order + "H", d[e + 8:e + 10])
            elif typ == 4:
                (dims[tag],) = struct.unpack(order + "I", d[e + 8:e + 12])
            else:
                raise ImageRejected("TIFF size of an unexpected type")
    if 256 not in dims or 257 not in dims:
        raise ImageRejected("TIFF without its width and height")
    return Header("tiff", dims[256], dims[257])


def _pnm(d: bytes) -> Header:
    tokens: list[bytes] = []
    i, n = 2, min(len(d), 4096)
    while len(tokens) < 2 and i < n:
        c = d[i:i + 1]
        if c == b"#":
            j = d.find(b"\n", i, n)
            i = n if j < 0 else j + 1
        elif c.isspace():
            i += 1
        else:
            j = i
            while j < n and not d[j:j + 1].isspace() and d[j:j + 1] != b"#":
                j += 1
            tokens.append(d[i:j])
            i = j
    if len(tokens) < 2 or not all(t.isdigit() and len(t) <= 9 for t in tokens):
        raise ImageRejected("PNM header without a width and height")
    return Header("pnm", int(tokens[0]), int(tokens[1]))


def _gif(d: bytes) -> Header:
    if len(d) < 10:
        raise ImageRejected("GIF header truncated")
    w, h = struct.unpack("<HH", d[6:10])
    return Header("gif", w, h)


def _webp(d: bytes) -> Header:
    chunk = d[12:16]
    if chunk == b"VP8 " and len(d) >= 30:
        w, h = struct.unpack("<HH", d[26:30])
        return Header("webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L" and len(d) >= 25:
        (bits,) = struct.unpack("<I", d[21:25])
        return Header("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(d) >= 30:
        w = int.from_bytes(d[24:27], "little") + 1
        h = int.from_bytes(d[27:30], "little") + 1
        return Header("webp", w, h)
    raise ImageRejected("WebP header truncated or of an unknown kind")


def _jp2(d: bytes) -> Header:
    """JPEG 2000 (passport chips store portraits so): the JP2 `ihdr` box, or a raw codestream's SIZ marker."""
    if d.startswith(b"\xff\x4f\xff\x51"):
        if len(d) < 24:
            raise ImageRejected("JPEG 2000 header truncated")
        xs, ys, xo, yo = struct.unpack(">IIII", d[8:24])
        return Header("jpeg2000", max(0, xs - xo), max(0, ys - yo))
    i = d.find(b"ihdr")
    if i < 0 or i + 12 > len(d):
        raise ImageRejected("JPEG 2000 without its image header")
    h, w = struct.unpack(">II", d[i + 4:i + 12])
    return Header("jpeg2000", w, h)


def read_header(data: bytes) -> Header:
    """The format and declared size of an image, from its first bytes only. Pure; raises ImageRejected."""
    d = bytes(data[:HEADER_SCAN])
    if d.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(d)
    if d.startswith(b"\xff\xd8"):
        return _jpeg(d)
    if d.startswith(b"BM"):
        return _bmp(d)
    if d[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff(d)
    if len(d) >= 3 and d[0:1] == b"P" and d[1:2] in b"123456" and d[2:3].isspace():
        return _pnm(d)
    if d[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(d)
    if d[:4] == b"RIFF" and d[8:12] == b"WEBP":
        return _webp(d)
    if d.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or d.startswith(b"\xff\x4f\xff\x51"):
        return _jp2(d)
    raise ImageRejected("not a decodable image (accepted: PNG, JPEG, BMP, TIFF, PNM, GIF, WebP, JPEG 2000)")


def check(data: bytes, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES,
          formats: frozenset[str] = DEFAULT_FORMATS) -> Header:
    """Refuse empty, oversized or over-declared images, and formats not in `formats`, before any decoder runs."""
    if not data:
        raise ImageRejected("empty file")
    if len(data) > max_bytes:
        raise ImageRejected(f"{len(data)} bytes is larger than the {max_bytes}-byte limit")
    head = read_header(data)
    if head.format not in formats:
        raise ImageRejected(f"not a decodable image: {head.format.upper()} is not accepted here")
    if head.width <= 0 or head.height <= 0:
        raise ImageRejected(f"{head.format.upper()} declares a zero size ({head.width}x{head.height})")
    if head.width > MAX_SIDE or head.height > MAX_SIDE or head.pixels > max_pixels:
        raise ImageRejected(f"{head.width}x{head.height} pixels is larger than the {max_pixels}-pixel limit")
    return head


def decode(data: bytes, *, gray: bool = False, unchanged: bool = False, max_pixels: int = MAX_PIXELS,
           max_bytes: int = MAX_BYTES, formats: frozenset[str] = DEFAULT_FORMATS) -> np.ndarray:
    """OpenCV decode after `check`: a grey or BGR uint8 array (or as stored with `unchanged`); ImageRejected."""
    import cv2

    head = check(data, max_pixels, max_bytes, formats)
    flag = cv2.IMREAD_UNCHANGED if unchanged else cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as exc:  # OpenCV's own limits or a codec failure
        raise ImageRejected(f"{head.format.upper()} could not be decoded: "
                            f"{str(exc).strip().splitlines()[-1][:120]}") from None
    if img is None or img.size == 0:
        raise ImageRejected(f"{head.format.upper()} is corrupt or truncated")
    if img.shape[0] * img.shape[1] > max_pixels:  # the header lied (e.g. a later TIFF page): still refused
        raise ImageRejected(f"{img.shape[1]}x{img.shape[0]} pixels is larger than the {max_pixels}-pixel limit")
    return img


def read_file(path: str | Path, **kwargs) -> np.ndarray:
    """`decode` of a file, checking its size before reading it; every failure an ImageRejected naming the file."""
    p = Path(path)
    limit = kwargs.get("max_bytes", MAX_BYTES)
    try:
        size = p.stat().st_size
        if size > limit:
            raise ImageRejected(f"{p.name}: {size} bytes is larger than the {limit}-byte limit")
        data = p.read_bytes()
    except OSError as exc:
        raise ImageRejected(f"{p.name}: cannot read file ({exc.strerror or type(exc).__name__})") from None
    try:
        return decode(data, **kwargs)
    except ImageRejected as exc:
        raise ImageRejected(f"{p.name}: {exc}") from None
