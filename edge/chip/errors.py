"""What can go wrong reading a chip, as exception types the reader turns into verdicts."""

from __future__ import annotations


class ChipError(Exception):
    """Base: the chip read failed; the message is safe to show (no MRZ, no names)."""


class CardRemoved(ChipError):
    """The card left the field, or the reader went away, in the middle of a read."""


class NoReader(ChipError):
    """No PC/SC service, or no reader of that name."""


class AccessDenied(ChipError):
    """BAC or PACE refused: the access key (MRZ or CAN) does not match this chip."""


class ProtocolError(ChipError):
    """The chip answered bytes that break ISO 7816-4 or Doc 9303 (bad status, bad MAC, bad TLV)."""


class StatusError(ProtocolError):
    """A command came back with a status word other than 9000."""

    def __init__(self, what: str, sw: int) -> None:
        super().__init__(f"{what}: status {sw:04X}")
        self.sw = sw


class MalformedData(ChipError):
    """A file read from the chip does not parse (SOD, data group, security infos)."""
