"""The `[chip]` trust anchors reach the chip step: loaded once at start, a bad file stops the start in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from edge.config import Chip
from edge.lane.checks import CheckError
from edge.lane.steps import load_csca_store
from tests.chip.card.personalise import make_csca


class _Cfg:
    def __init__(self, chip: Chip) -> None:
        self.chip = chip


def test_no_anchors_no_store():
    assert load_csca_store(_Cfg(Chip())) is None


def test_configured_csca_is_loaded(tmp_path: Path):
    _key, csca = make_csca()
    pem = tmp_path / "csca.pem"
    pem.write_bytes(csca.public_bytes(Encoding.PEM))
    store = load_csca_store(_Cfg(Chip(csca=[pem])))
    assert store is not None and len(store.certificates) == 1


def test_a_bad_anchor_file_stops_the_start_naming_it(tmp_path: Path):
    bad = tmp_path / "csca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(CheckError, match="chip: CSCA/CRL file"):
        load_csca_store(_Cfg(Chip(csca=[bad])))
