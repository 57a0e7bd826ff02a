"""BER-TLV as ISO 7816-4 and Doc 9303 use it: multi-byte tags, definite lengths up to 4 bytes.

Pure functions over bytes; every malformed input raises `MalformedData`, never IndexError.
"""

from __future__ import annotations

from collections.abc import Iterator

from edge.chip.errors import MalformedData


def read_tag(buf: bytes, pos: int) -> tuple[int, int]:
    """(tag, next position). Tags keep their class/constructed bits, e.g. 0x5F1F, 0x7F61."""
    if pos >= len(buf):
        raise MalformedData("TLV: tag runs past the end")
    first = buf[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(buf):
                raise MalformedData("TLV: multi-byte tag runs past the end")
            b = buf[pos]
            tag = (tag << 8) | b
            pos += 1
            if not b & 0x80:
                break
            if tag > 0xFFFFFFFF:
                raise MalformedData("TLV: tag longer than 4 bytes")
    return tag, pos


def read_length(buf: bytes, pos: int) -> tuple[int, int]:
    """(length, next position); definite form only."""
    if pos >= len(buf):
        raise MalformedData("TLV: length runs past the end")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    n = first & 0x7F
    if n == 0 or n > 4:
        raise MalformedData(f"TLV: unsupported length form 0x{first:02X}")
    if pos + n > len(buf):
        raise MalformedData("TLV: length bytes run past the end")
    return int.from_bytes(buf[pos:pos + n], "big"), pos + n


def header_size(buf: bytes) -> tuple[int, int]:
    """(header length, value length) of the TLV starting `buf`: how many bytes a file holds in total."""
    _, p = read_tag(buf, 0)
    length, p = read_length(buf, p)
    return p, length


def iter_tlv(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """Successive (tag, value) in `buf`; the values must fit exactly."""
    pos = 0
    while pos < len(buf):
        if buf[pos] in (0x00, 0xFF) and all(b in (0x00, 0xFF) for b in buf[pos:]):
            return  # trailing padding some chips leave in a file
        tag, pos = read_tag(buf, pos)
        length, pos = read_length(buf, pos)
        if pos + length > len(buf):
            raise MalformedData(f"TLV: value of tag {tag:X} runs past the end")
        yield tag, buf[pos:pos + length]
        pos += length


def parse_one(buf: bytes, expected: int | None = None) -> tuple[int, bytes]:
    """The first TLV of `buf` (trailing bytes ignored), checked against `expected` when given."""
    tag, p = read_tag(buf, 0)
    length, p = read_length(buf, p)
    if p + length > len(buf):
        raise MalformedData(f"TLV: value of tag {tag:X} runs past the end")
    if expected is not None and tag != expected:
        raise MalformedData(f"TLV: expected tag {expected:X}, found {tag:X}")
    return tag, buf[p:p + length]


def children(value: bytes) -> dict[int, bytes]:
    """The direct children of a constructed value, by tag (first occurrence wins)."""
    out: dict[int, bytes] = {}
    for tag, v in iter_tlv(value):
        out.setdefault(tag, v)
    return out


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value
