"""Passive authentication (Doc 9303 part 11 section 5.1): the SOD's CMS signature, the document signer's
chain to a CSCA (PEM or an ICAO master list), revocation where a CRL is given, and each data group's hash.

asn1crypto parses CMS (SOD, master lists) because `cryptography` can build but not parse SignedData;
`cryptography` does every signature check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from edge.chip import tlv
from edge.chip.errors import MalformedData
from edge.chip.lds import TAG_SOD

OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}


class DataGroupHash(core.Sequence):
    _fields = [("data_group_number", core.Integer), ("data_group_hash_value", core.OctetString)]  # noqa: RUF012


class DataGroupHashValues(core.SequenceOf):
    _child_spec = DataGroupHash


class LdsVersionInfo(core.Sequence):
    _fields = [("lds_version", core.PrintableString), ("unicode_version", core.PrintableString)]  # noqa: RUF012


class LdsSecurityObject(core.Sequence):
    _fields = [  # noqa: RUF012 (asn1crypto's own class API, mutated by it)
        ("version", core.Integer),
        ("hash_algorithm", cms.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashValues),
        ("lds_version_info", LdsVersionInfo, {"optional": True}),
    ]


class CertificateSet(core.SetOf):
    _child_spec = cms.Certificate


class CscaMasterList(core.Sequence):
    _fields = [("version", core.Integer), ("cert_list", CertificateSet)]  # noqa: RUF012


@dataclass(frozen=True)
class SignedContent:
    """A CMS SignedData's content, its signer certificate and whether the signature verifies."""

    content_type: str
    content: bytes
    signer: x509.Certificate | None
    signature_ok: bool
    problem: str = ""


def _hash_name(algo: cms.DigestAlgorithm) -> str:
    name = algo["algorithm"].native
    if name not in _HASHES:
        raise MalformedData(f"unsupported digest algorithm {name}")
    return name


def _verify_signature(cert: x509.Certificate, si: cms.SignerInfo, data: bytes, hash_name: str) -> bool:
    key = cert.public_key()
    sig = si["signature"].native
    h = _HASHES[hash_name]()
    sig_algo = si["signature_algorithm"]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if sig_algo.signature_algo == "rsassa_pss":
                params = sig_algo["parameters"]
                pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]()
                pad = padding.PSS(padding.MGF1(pss_hash), params["salt_length"].native)
                key.verify(sig, data, pad, pss_hash)
            else:
                key.verify(sig, data, padding.PKCS1v15(), h)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(h))
        else:
            return False
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def _signer_cert(sd: cms.SignedData, si: cms.SignerInfo) -> x509.Certificate | None:
    sid = si["sid"]
    for choice in sd["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.issuer == ias["issuer"] and cert.serial_number == ias["serial_number"].native:
                return x509.load_der_x509_certificate(cert.dump())
        elif cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump())
    return None


def verify_signed_data(der: bytes) -> SignedContent:
    """Parse a CMS ContentInfo(SignedData) and check its (first) signer's signature over the content."""
    try:
        info = cms.ContentInfo.load(der, strict=False)
        if info["content_type"].native != "signed_data":
            raise MalformedData("CMS content is not SignedData")
        sd = info["content"]
        eci = sd["encap_content_info"]
        content_type = eci["content_type"].dotted
        raw = eci["content"]
        if raw is None or isinstance(raw, core.Void):
            raise MalformedData("CMS SignedData carries no content")
        content = raw.contents if not isinstance(raw, core.ParsableOctetString) else raw.native
        if isinstance(content, core.Asn1Value):
            content = content.dump()
        infos = sd["signer_infos"]
        if len(infos) < 1:
            raise MalformedData("CMS SignedData has no signer")
        si = infos[0]
        hash_name = _hash_name(si["digest_algorithm"])
        signer = _signer_cert(sd, si)
    except MalformedData:
        raise
    except Exception as exc:   # asn1crypto raises many types for malformed DER
        raise MalformedData(f"CMS does not parse: {type(exc).__name__}") from exc
    if signer is None:
        return SignedContent(content_type, content, None, False, "no signer certificate in the CMS")
    attrs = si["signed_attrs"]
    if attrs is None or len(attrs) == 0:
        return SignedContent(content_type, content, signer, _verify_signature(signer, si, content, hash_name))
    digest = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
    h = hashes.Hash(_HASHES[hash_name]())
    h.update(content)
    if digest is None or not hmac.compare_digest(digest, h.finalize()):
        return SignedContent(content_type, content, signer, False, "messageDigest does not match the content")
    signed = b"\x31" + attrs.dump()[1:]     # signed attributes are signed as an explicit SET OF
    ok = _verify_signature(signer, si, signed, hash_name)
    return SignedContent(content_type, content, signer, ok, "" if ok else "signature does not verify")


@dataclass(frozen=True)
class Sod:
    signed: SignedContent
    hash_algorithm: str
    hashes: dict[int, bytes]


def parse_sod(data: bytes) -> Sod:
    _, value = tlv.parse_one(data, TAG_SOD)
    signed = verify_signed_data(value)
    if signed.content_type != OID_LDS_SECURITY_OBJECT:
        raise MalformedData("SOD content is not an LDS security object")
    try:
        lso = LdsSecurityObject.load(signed.content, strict=True)
        algo = _hash_name(lso["hash_algorithm"])
        values = {int(d["data_group_number"].native): bytes(d["data_group_hash_value"].native)
                  for d in lso["data_group_hash_values"]}
    except MalformedData:
        raise
    except Exception as exc:
        raise MalformedData(f"LDS security object does not parse: {type(exc).__name__}") from exc
    return Sod(signed, algo, values)


def dg_hashes_match(sod: Sod, files: dict[int, bytes]) -> dict[int, bool]:
    """Each data group read against the SOD's hash (a group the SOD does not list is False)."""
    out = {}
    for number, content in sorted(files.items()):
        want = sod.hashes.get(number)
        got = hashlib.new(sod.hash_algorithm, content).digest()
        out[number] = want is not None and hmac.compare_digest(want, got)
    return out


@dataclass
class CscaStore:
    """Trusted country signing CA certificates and optional CRLs."""

    certificates: list[x509.Certificate] = field(default_factory=list)
    crls: list[x509.CertificateRevocationList] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.certificates)

    def add_file(self, path: Path) -> None:
        """A PEM/DER certificate file, or an ICAO master list (CMS-signed, its signature must verify)."""
        data = path.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" in data:
            self.certificates.extend(x509.load_pem_x509_certificates(data))
            return
        try:
            self.certificates.append(x509.load_der_x509_certificate(data))
            return
        except ValueError:
            pass
        self.certificates.extend(parse_master_list(data))

    def add_crl_file(self, path: Path) -> None:
        data = path.read_bytes()
        if b"-----BEGIN X509 CRL-----" in data:
            self.crls.append(x509.load_pem_x509_crl(data))
        else:
            self.crls.append(x509.load_der_x509_crl(data))

    @classmethod
    def from_files(cls, cscas: Iterable[Path], crls: Iterable[Path] = ()) -> CscaStore:
        store = cls()
        for p in cscas:
            store.add_file(Path(p))
        for p in crls:
            store.add_crl_file(Path(p))
        return store


def parse_master_list(data: bytes) -> list[x509.Certificate]:
    """The CSCA certificates of an ICAO master list, after checking the list's CMS signature."""
    signed = verify_signed_data(data)
    if signed.content_type != OID_CSCA_MASTER_LIST:
        raise MalformedData("not a certificate, PEM file or ICAO master list")
    if not signed.signature_ok:
        raise MalformedData(f"master list signature: {signed.problem}")
    try:
        ml = CscaMasterList.load(signed.content)
        return [x509.load_der_x509_certificate(c.dump()) for c in ml["cert_list"]]
    except Exception as exc:
        raise MalformedData(f"master list does not parse: {type(exc).__name__}") from exc


def _valid_at(cert: x509.Certificate, at: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def chain_to_csca(signer: x509.Certificate, store: CscaStore, at: dt.datetime | None = None) -> tuple[bool, str]:
    """(ok, reason): the document signer is issued by a trusted CSCA, both valid now, signer not revoked."""
    at = at or dt.datetime.now(dt.UTC)
    issuers = [c for c in store.certificates if c.subject == signer.issuer]
    if not issuers:
        return False, "no CSCA with the document signer's issuer name"
    for csca in issuers:
        try:
            signer.verify_directly_issued_by(csca)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if not _valid_at(csca, at):
            return False, "the CSCA certificate is outside its validity"
        if not _valid_at(signer, at):
            return False, "the document signer certificate is outside its validity"
        for crl in store.crls:
            if crl.issuer != csca.subject:
                continue
            try:
                crl_ok = crl.is_signature_valid(csca.public_key())  # type: ignore[arg-type]
            except (TypeError, ValueError, UnsupportedAlgorithm):
                crl_ok = False
            if not crl_ok:
                return False, "a CRL for this CSCA does not verify"
            if crl.get_revoked_certificate_by_serial_number(signer.serial_number) is not None:
                return False, "the document signer certificate is revoked"
        return True, ""
    return False, "the document signer's signature does not verify under any CSCA of that name"
