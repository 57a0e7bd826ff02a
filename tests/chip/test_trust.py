"""The document signer's chain: CSCA validity, CRL revocation, impostor CSCAs; EC keys with explicit parameters."""

from __future__ import annotations

import datetime as dt

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from edge.chip.clone import load_public_key
from edge.chip.ecc import BRAINPOOL_P256R1
from edge.chip.passive import CscaStore, chain_to_csca, dg_hashes_match, parse_sod
from tests.chip.card import personalise


def _crl(pki, revoked_serials: list[int], key=None) -> x509.CertificateRevocationList:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateRevocationListBuilder().issuer_name(pki.csca.subject).last_update(now)
         .next_update(now + dt.timedelta(days=30)))
    for s in revoked_serials:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(s).revocation_date(now).build())
    return b.sign(key or pki.csca_key, hashes.SHA256())


def test_chain_ok_then_revoked_then_bad_crl(pki):
    assert chain_to_csca(pki.ds, CscaStore([pki.csca])) == (True, "")
    assert chain_to_csca(pki.ds, CscaStore([pki.csca], [_crl(pki, [12345])])) == (True, "")
    ok, why = chain_to_csca(pki.ds, CscaStore([pki.csca], [_crl(pki, [pki.ds.serial_number])]))
    assert not ok and "revoked" in why
    forged = _crl(pki, [], key=ec.generate_private_key(ec.SECP256R1()))
    ok, why = chain_to_csca(pki.ds, CscaStore([pki.csca], [forged]))
    assert not ok and "CRL" in why


def test_impostor_csca_and_expiry(pki):
    _, other = personalise.make_csca()          # same name, another key
    ok, why = chain_to_csca(pki.ds, CscaStore([other]))
    assert not ok and "does not verify" in why
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4000)
    ok, why = chain_to_csca(pki.ds, CscaStore([pki.csca]), at=later)
    assert not ok and "validity" in why
    assert chain_to_csca(pki.ds, CscaStore([]))[0] is False


def test_explicit_domain_parameters_map_to_the_named_curve():
    key = ec.generate_private_key(ec.BrainpoolP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    c = BRAINPOOL_P256R1
    params = asn1_keys.SpecifiedECDomain({
        "version": "ecdpVer1",
        "field_id": {"field_type": "prime_field", "parameters": c.p},
        "curve": {"a": c.a.to_bytes(32, "big"), "b": c.b.to_bytes(32, "big")},
        "base": c.encode(c.g),
        "order": c.n,
        "cofactor": 1,
    })
    spki = asn1_keys.PublicKeyInfo({
        "algorithm": {"algorithm": "ec", "parameters": asn1_keys.ECDomainParameters({"specified": params})},
        "public_key": point,
    }).dump()
    loaded = load_public_key(spki)
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    assert loaded.public_numbers() == key.public_numbers()


def _rsa_signer(pki):
    key = rsa.generate_private_key(65537, 2048)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(personalise._name("RSA document signer"))
            .issuer_name(pki.csca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(pki.csca_key, hashes.SHA256()))
    return key, cert


def test_sod_signed_with_rsa_pkcs1_and_pss(pki):
    key, cert = _rsa_signer(pki)
    files = {1: b"\x61\x03\x5f\x1f\x00", 2: b"\x75\x00"}
    for pss in (False, True):
        rsa_pki = personalise.Pki(pki.csca_key, pki.csca, key, cert)
        der = personalise.sod(files, rsa_pki) if not pss else _sod_pss(files, key, cert)
        sod = parse_sod(der)
        assert sod.signed.signature_ok, (pss, sod.signed.problem)
        assert dg_hashes_match(sod, files) == {1: True, 2: True}
        assert chain_to_csca(sod.signed.signer, CscaStore([pki.csca])) == (True, "")
    other_key, _ = _rsa_signer(pki)
    forged = parse_sod(_sod_pss(files, other_key, cert))      # signed by a key that is not the certificate's
    assert forged.signed.signature_ok is False


def _sod_pss(files, key, cert) -> bytes:
    import hashlib

    from tests.chip.card.ber import integer, oid, tlv
    hashes_der = b"".join(tlv(0x30, integer(n) + tlv(0x04, hashlib.sha256(v).digest()))
                          for n, v in sorted(files.items()))
    lso = tlv(0x30, integer(0) + tlv(0x30, tlv(0x06, oid("2.16.840.1.101.3.4.2.1"))) + tlv(0x30, hashes_der))
    return tlv(0x77, personalise.signed_data("2.23.136.1.1.1", lso, key, cert, rsa_pss=True))
