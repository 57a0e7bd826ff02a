"""The card's own BER-TLV helpers (deliberately not edge.chip.tlv: a shared codec would hide bugs)."""

from __future__ import annotations


def tag_bytes(tag: int) -> bytes:
    out = []
    while True:
        out.append(tag & 0xFF)
        tag >>= 8
        if not tag:
            break
    return bytes(reversed(out))


def length_bytes(n: int) -> bytes:
    if n <= 0x7F:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82, n >> 8, n & 0xFF])
    return bytes([0x83, n >> 16, (n >> 8) & 0xFF, n & 0xFF])


def tlv(tag: int, value: bytes) -> bytes:
    return tag_bytes(tag) + length_bytes(len(value)) + value


def parse(buf: bytes) -> list[tuple[int, bytes]]:
    """Top-level (tag, value) pairs; raises ValueError on anything odd."""
    out, i = [], 0
    while i < len(buf):
        tag = buf[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                tag = (tag << 8) | buf[i]
                i += 1
                if not buf[i - 1] & 0x80:
                    break
        n = buf[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(buf[i:i + k], "big")
            i += k
        if i + n > len(buf):
            raise ValueError("TLV overruns")
        out.append((tag, buf[i:i + n]))
        i += n
    return out


def oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER contents."""
    a = [int(x) for x in dotted.split(".")]
    body = bytearray([a[0] * 40 + a[1]])
    for v in a[2:]:
        enc = [v & 0x7F]
        while v > 0x7F:
            v >>= 7
            enc.insert(0, 0x80 | (v & 0x7F))
        body += bytes(enc)
    return bytes(body)


def integer(v: int) -> bytes:
    body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return tlv(0x02, body)
