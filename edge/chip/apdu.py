"""ISO 7816-4 command APDUs (short and extended) and the status words the chip code acts on."""

from __future__ import annotations

from dataclasses import dataclass

from edge.chip.errors import ProtocolError

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_AUTH_FAILED = 0x6300
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_DATA = 0x6A80
SW_SM_MISSING = 0x6987
SW_SM_INCORRECT = 0x6988
SW_END_OF_FILE = 0x6282


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None          # None: no Le; 256 (short) / 65536 (extended) mean "all"

    def encode(self) -> bytes:
        """Short form when data and Le fit, extended form otherwise (ISO 7816-4 5.1)."""
        head = bytes([self.cla, self.ins, self.p1, self.p2])
        extended = len(self.data) > 255 or (self.le is not None and self.le > 256)
        if not extended:
            out = head
            if self.data:
                out += bytes([len(self.data)]) + self.data
            if self.le is not None:
                out += bytes([self.le & 0xFF])
            return out
        out = head + b"\x00"
        if self.data:
            out += len(self.data).to_bytes(2, "big") + self.data
        if self.le is not None:
            out += (self.le & 0xFFFF).to_bytes(2, "big")
        return out


def split_response(raw: bytes) -> tuple[bytes, int]:
    """(data, status word) of a response APDU."""
    if len(raw) < 2:
        raise ProtocolError(f"response of {len(raw)} bytes has no status word")
    return raw[:-2], int.from_bytes(raw[-2:], "big")
