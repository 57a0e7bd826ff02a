"""The test passport as an in-process chip device, for tests that want a chip without pcscd (the kiosk's).

    from tests.chip.card.inprocess import SimulatedChip, issue_for
    chip = SimulatedChip(issue_for(tmp_path, mrz_text, face_jpeg_bytes))
    result = edge.chip.step.read_chip(chip, mrz_text, store)     # same call as with the PC/SC backend

The transport hands each APDU straight to the card's `process` (no pcscd, no vpcd); the reader's code
path above the transport is the one the PC/SC backend drives. `trust_store()` gives the matching CSCA.
"""

from __future__ import annotations

from pathlib import Path

from drivers.contract import DeviceInfo, DeviceKind, Status, StatusReport
from tests.chip.card import personalise
from tests.chip.card.__main__ import ATR_EXTENDED, with_tck
from tests.chip.card.passport import CardLeft, Passport

_PKI: personalise.Pki | None = None


def pki() -> personalise.Pki:
    global _PKI
    if _PKI is None:
        _PKI = personalise.make_pki()
    return _PKI


def trust_store():
    from edge.chip.passive import CscaStore

    return CscaStore([pki().csca])


def issue_for(directory: Path, mrz: str, face: bytes = b"", **spec: object) -> Path:
    """A card for this TD3 MRZ (two lines) holding `face` (JPEG / JPEG 2000) as DG2."""
    return personalise.issue(personalise.Spec(mrz=mrz.strip(), face_image=face, **spec), pki(), Path(directory))


class _Session:
    def __init__(self, card: Passport) -> None:
        self.card = card
        self.atr = with_tck(ATR_EXTENDED)

    def transmit(self, apdu: bytes) -> bytes:
        try:
            return self.card.process(apdu)
        except CardLeft as exc:
            raise ConnectionError("the card left the field") from exc

    def close(self) -> None:
        self.card.reset()

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimulatedChip:
    """Duck-types the chip_pcsc backend's `session()`, `status()` and `info()`."""

    kind = DeviceKind.CHIP
    name = "chip_inprocess"

    def __init__(self, card_directory: Path | None) -> None:
        self.card_directory = card_directory

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, self.name, make="test", model="in-process passport")

    def status(self) -> StatusReport:
        if self.card_directory is None:
            return StatusReport(Status.READY, None, "no card in the field")
        return StatusReport(Status.READY, None, "card in the field")

    def session(self, timeout: float = 0.0) -> _Session:
        if self.card_directory is None:
            raise ConnectionError("no card in the field")
        return _Session(Passport(self.card_directory))
