"""Certificates for a bundle: issue the device's MQTT client certificate, and check what a bundle carries.

Checks return a specific `PkiError` message a technician can act on ("does not match its key", "expired on
2026-01-31"); they never raise a library traceback for bad input.

A device certificate names post AND device: CN = "<post>/<device>" (OU = post too, for people reading it). The
broker takes the CN as the MQTT username and client id (mosquitto `use_identity_as_username` and
`use_username_as_clientid`), so one ACL pattern `borderpost/v1/%u/...` pins both topic levels, and a device can
neither write nor read below another post, nor connect as another device's client id. Agency services get
certificates whose CN has no "/", so they can never be mistaken for a device.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_CERT_DAYS = 825
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")   # a post or device id, as the config accepts it


class PkiError(Exception):
    """A certificate or key problem, phrased for a person."""


def load_cert(data: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PkiError(f"{what}: not a PEM X.509 certificate") from None


def load_private_key(data: bytes, what: str):  # -> PrivateKeyTypes
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PkiError(f"{what}: the key is encrypted; give an unencrypted PEM key") from None
    except ValueError:
        raise PkiError(f"{what}: not a PEM private key") from None


def load_csr(data: bytes, what: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise PkiError(f"{what}: not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise PkiError(f"{what}: the request's signature is invalid (altered or corrupted)")
    return csr


def _public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _hash_for(key) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()


def _fmt(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def check_key_matches(cert: x509.Certificate, key, what: str) -> None:
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        raise PkiError(f"{what}: the certificate does not match its private key")


def check_validity(cert: x509.Certificate, now: dt.datetime, what: str) -> None:
    """Refuse expired certificates. 'Not yet valid' is refused only beyond a day of skew: a Pi has no RTC
    and boots with the last saved time, so a fresh certificate may look a few hours early."""
    if cert.not_valid_after_utc <= now:
        raise PkiError(f"{what}: the certificate expired on {_fmt(cert.not_valid_after_utc)}")
    if cert.not_valid_before_utc > now + dt.timedelta(days=1):
        raise PkiError(f"{what}: the certificate is not valid before {_fmt(cert.not_valid_before_utc)}")


def check_issued_by(cert: x509.Certificate, ca: x509.Certificate, what: str) -> None:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise PkiError(f"{what}: the certificate was not issued by the given CA "
                       f"({ca.subject.rfc4514_string()})") from None


def common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def device_identity(post: str, device: str) -> str:
    """The CN, MQTT username and client id of a device: "<post>/<device>" (no MQTT wildcard can appear in it)."""
    for what, value in (("post", post), ("device", device)):
        if not NAME.fullmatch(value):
            raise PkiError(f"{what} id {value!r}: use 1-64 letters, digits, '-' or '_' (no '/', '+', '#')")
    return f"{post}/{device}"


def identity_of(cert: x509.Certificate) -> tuple[str, str] | None:
    """(post, device) named by a device certificate, or None for a certificate that names no device."""
    cn = common_name(cert) or ""
    post, sep, device = cn.partition("/")
    if not sep or not NAME.fullmatch(post) or not NAME.fullmatch(device):
        return None
    return post, device


def identity_of_file(path: Path) -> tuple[str, str] | None:
    """`identity_of` for a PEM file; raises PkiError when it cannot be read or parsed."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return identity_of(load_cert(data, str(path)))


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes | None   # None when the key came with a CSR and stays with its owner


def _subject(post: str, device: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "borderpost"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, post),
        x509.NameAttribute(NameOID.COMMON_NAME, device_identity(post, device)),
    ])


def issue_client_cert(
    *, ca_cert: x509.Certificate, ca_key, post: str, device: str, public_key, now: dt.datetime,
    days: int = CLIENT_CERT_DAYS,
) -> bytes:
    """A TLS client certificate for `device` at `post` (CN "<post>/<device>", OU post), signed by the agency CA.
    The CA decides the subject: whatever a CSR asked for is ignored."""
    return _issue(_subject(post, device), ca_cert=ca_cert, ca_key=ca_key, public_key=public_key, now=now, days=days)


def issue_service_cert(
    *, ca_cert: x509.Certificate, ca_key, name: str, public_key, now: dt.datetime, days: int = CLIENT_CERT_DAYS,
) -> bytes:
    """A TLS client certificate for an agency service (the consumer of events, the sender of commands): CN `name`,
    which has no "/" and so can never be a device's identity."""
    if not NAME.fullmatch(name):
        raise PkiError(f"service name {name!r}: use 1-64 letters, digits, '-' or '_'")
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "borderpost"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return _issue(subject, ca_cert=ca_cert, ca_key=ca_key, public_key=public_key, now=now, days=days)


def _issue(subject: x509.Name, *, ca_cert: x509.Certificate, ca_key, public_key, now: dt.datetime,
           days: int) -> bytes:
    check_key_matches(ca_cert, ca_key, "agency CA")
    check_validity(ca_cert, now, "agency CA")
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    cert = builder.sign(ca_key, _hash_for(ca_key))
    return cert.public_bytes(serialization.Encoding.PEM)


def new_client_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """EC P-256: what every MQTT broker's TLS stack accepts and a Pi handshakes with quickly."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return key, pem


def supported_client_key(key) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
