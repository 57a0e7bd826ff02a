"""The lane's chip step: wait for the chip on a `chip` device, read and verify it, return a `ChipResult`.

    result = read_chip(device, mrz_text, csca_store, progress)
    result.face_bytes      # DG2's JPEG / JPEG 2000: the face match's reference when present
    Context(chip=result)   # edge.chip.check's verdicts read it

Nothing here raises for the chip's or the card's faults: they are verdicts in the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edge.chip.access_key import MrzKey, mrz_key
from edge.chip.errors import MalformedData
from edge.chip.passive import CscaStore
from edge.chip.reader import Progress, read_passport
from edge.chip.result import ChipResult


def load_csca_store(cscas: Iterable[Path], crls: Iterable[Path] = ()) -> CscaStore:
    """PEM/DER CSCA certificates and ICAO master lists; ValueError with a one-line reason on a bad file."""
    try:
        return CscaStore.from_files(cscas, crls)
    except (OSError, ValueError, MalformedData) as exc:
        raise ValueError(f"CSCA/CRL file: {exc}") from exc


def read_chip(
    device: Any,
    mrz: str | MrzKey,
    csca_store: CscaStore | None,
    progress: Progress | None = None,
    wait_s: float = 5.0,
    can: str | None = None,
) -> ChipResult:
    """Read the chip on `device` (a drivers.backends.chip_pcsc reader, opened) with the optical MRZ's key,
    or with the card access number `can` (PACE only) when given."""
    key = mrz if isinstance(mrz, MrzKey) else mrz_key(mrz)
    try:
        session = device.session(timeout=wait_s)
    except ConnectionError as exc:
        return ChipResult(error=f"no chip read: {exc}", error_kind="no_card")
    with session:
        return read_passport(session, key, csca_store, progress, atr=getattr(session, "atr", None), can=can)
