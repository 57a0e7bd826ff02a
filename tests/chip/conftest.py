"""Chip test fixtures: pcscd + vpcd (started when none runs), the test PKI, cards issued per test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.chip import pcsc
from tests.chip.card import personalise


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory):
    why = pcsc.missing()
    if why:
        pytest.fail(f"chip tests need pcscd and vpcd: {why} (CI's .ci/run installs pcscd vsmartcard-vpcd)")
    try:
        service = pcsc.start(tmp_path_factory.mktemp("pcscd"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield service
    service.stop()


@pytest.fixture(scope="session")
def pki():
    return personalise.make_pki()


@pytest.fixture(scope="session")
def trust(pki, tmp_path_factory) -> dict[str, Path]:
    """The CSCA as PEM, an impostor CSCA with the same name but another key, and a master list."""
    d = tmp_path_factory.mktemp("trust")
    _other_key, other = personalise.make_csca()
    _ml_key, ml_csca = personalise.make_csca("Master list signer's CSCA")
    now = dt.datetime.now(dt.UTC)
    signer_key = personalise.ec.generate_private_key(personalise.ec.SECP256R1())
    signer = (x509.CertificateBuilder().subject_name(personalise._name("Master list signer"))
              .issuer_name(pki.csca.subject).public_key(signer_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
              .not_valid_after(now + dt.timedelta(days=30)).sign(pki.csca_key, hashes.SHA256()))
    (d / "masterlist.ml").write_bytes(personalise.master_list([ml_csca, pki.csca], signer_key, signer))
    return {"csca": personalise.write_pem(pki.csca, d / "csca.pem"),
            "other": personalise.write_pem(other, d / "other.pem"),
            "masterlist": d / "masterlist.ml"}


@pytest.fixture
def insert_card(pcscd, pki, tmp_path):
    """insert_card(Spec) -> Card in the virtual reader's field; removed after the test."""
    cards: list[pcsc.Card] = []

    def insert(spec: personalise.Spec) -> pcsc.Card:
        directory = personalise.issue(spec, pki, tmp_path / f"card{len(cards)}")
        card = pcsc.Card(directory, pcscd)
        cards.append(card)
        return card

    yield insert
    for c in cards:
        c.remove()
