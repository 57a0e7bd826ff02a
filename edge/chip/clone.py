"""Clone detection: chip authentication (DG14, Doc 9303 part 11 section 6.2) or active authentication
(DG15, section 6.1). Both prove the chip holds a private key whose public half the SOD signs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from edge.chip import crypto, tlv
from edge.chip.apdu import SW_OK, Command
from edge.chip.ecc import STANDARD_CURVES
from edge.chip.errors import ChipError, MalformedData, StatusError
from edge.chip.lds import SecurityInfo, decode_oid
from edge.chip.pace import encode_oid
from edge.chip.sm import SecureChannel, SessionKeys

CA_PREFIX = "0.4.0.127.0.7.2.2.3.2"          # id-CA-ECDH
PK_ECDH = "0.4.0.127.0.7.2.2.1.2"            # id-PK-ECDH
AA_INFO = "2.23.136.1.1.5"
_CA_CIPHERS = {1: ("3DES", 128), 2: ("AES", 128), 3: ("AES", 192), 4: ("AES", 256)}
_PLAIN_ECDSA = {"0.4.0.127.0.7.1.1.4.1.1": hashes.SHA1, "0.4.0.127.0.7.1.1.4.1.2": hashes.SHA224,
                "0.4.0.127.0.7.1.1.4.1.3": hashes.SHA256, "0.4.0.127.0.7.1.1.4.1.4": hashes.SHA384,
                "0.4.0.127.0.7.1.1.4.1.5": hashes.SHA512}
_CRYPTOGRAPHY_CURVES = {12: ec.SECP256R1, 13: ec.BrainpoolP256R1}
_ISO9796_HASHES = {0x33: "sha1", 0x34: "sha256", 0x35: "sha512", 0x36: "sha384", 0x38: "sha224"}


def load_public_key(spki: bytes) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A SubjectPublicKeyInfo; explicit EC domain parameters (common on passports) mapped to a named curve."""
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return _explicit_ec_key(spki)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise MalformedData(f"unsupported public key type {type(key).__name__}")
    return key


def _explicit_ec_key(spki: bytes) -> ec.EllipticCurvePublicKey:
    try:
        info = asn1_keys.PublicKeyInfo.load(spki)
        params = info["algorithm"]["parameters"]
        if params.name != "specified":
            raise MalformedData("unsupported EC key parameters")
        spec = params.chosen
        p = spec["field_id"]["parameters"].native
        point = info["public_key"].native if isinstance(info["public_key"].native, bytes) else info["public_key"].dump()
    except MalformedData:
        raise
    except Exception as exc:
        raise MalformedData(f"public key does not parse: {type(exc).__name__}") from exc
    for pid, curve in STANDARD_CURVES.items():
        if curve.p == p and int.from_bytes(spec["curve"]["a"].native, "big") == curve.a:
            return ec.EllipticCurvePublicKey.from_encoded_point(_CRYPTOGRAPHY_CURVES[pid](), bytes(point))
    raise MalformedData("EC key on a curve this reader does not know")


@dataclass(frozen=True)
class CloneVerdict:
    method: str              # "chip_auth" | "active_auth" | "not_supported"
    passed: bool | None      # None when not supported
    reason: str = ""


def verify_iso9796_2(key: rsa.RSAPublicKey, signature: bytes, challenge: bytes) -> bool:
    """ISO/IEC 9796-2 digital signature scheme 1 with partial message recovery (AA's RSA form)."""
    nums = key.public_numbers()
    k = (nums.n.bit_length() + 7) // 8
    s = int.from_bytes(signature, "big")
    if s >= nums.n:
        return False
    m = pow(s, nums.e, nums.n).to_bytes(k, "big")
    if m[-1] == 0xBC:
        name, t = "sha1", 1
    elif m[-1] == 0xCC and m[-2] in _ISO9796_HASHES:
        name, t = _ISO9796_HASHES[m[-2]], 2
    else:
        return False
    hlen = hashlib.new(name).digest_size
    if m[0] & 0xC0 != 0x40 or len(m) < hlen + t + 1:
        return False
    m1 = m[1:k - hlen - t]
    digest = m[k - hlen - t:k - t]
    return hmac.compare_digest(digest, hashlib.new(name, m1 + challenge).digest())


def active_authentication(channel: SecureChannel, dg15: bytes, infos: list[SecurityInfo]) -> CloneVerdict:
    """INTERNAL AUTHENTICATE with a fresh 8-byte challenge; the answer must verify under DG15's key."""
    _, spki = tlv.parse_one(dg15, 0x6F)
    key = load_public_key(spki)
    challenge = os.urandom(8)
    sig, sw = channel.send(Command(0x00, 0x88, 0x00, 0x00, challenge, le=256))
    if sw != SW_OK:
        return CloneVerdict("active_auth", False, f"INTERNAL AUTHENTICATE status {sw:04X}")
    if isinstance(key, rsa.RSAPublicKey):
        ok = verify_iso9796_2(key, sig, challenge)
    else:
        algo = next((i for i in infos if i.oid == AA_INFO), None)
        oid = decode_oid(algo.elements[1][1]) if algo and len(algo.elements) > 1 else "0.4.0.127.0.7.1.1.4.1.3"
        h = _PLAIN_ECDSA.get(oid, hashes.SHA256)()
        half = len(sig) // 2
        der = encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))
        try:
            key.verify(der, challenge, ec.ECDSA(h))
            ok = True
        except InvalidSignature:
            ok = False
    return CloneVerdict("active_auth", ok, "" if ok else "the chip's signature does not verify")


def chip_authentication(channel: SecureChannel, infos: list[SecurityInfo]) -> CloneVerdict:
    """ECDH with DG14's static key; on success the channel carries on with the new session keys."""
    ca = next((i for i in infos if i.oid.startswith(CA_PREFIX + ".")), None)
    pk = next((i for i in infos if i.oid == PK_ECDH), None)
    if ca is None or pk is None or not pk.elements or pk.elements[0][0] != 0x30:
        return CloneVerdict("not_supported", None, "DG14 offers no ECDH chip authentication")
    last = int(ca.oid.rpartition(".")[2])
    if last not in _CA_CIPHERS:
        return CloneVerdict("not_supported", None, f"chip authentication {ca.oid} not supported")
    cipher, bits = _CA_CIPHERS[last]
    chip_key = load_public_key(tlv.encode(0x30, pk.elements[0][1]))
    if not isinstance(chip_key, ec.EllipticCurvePublicKey):
        return CloneVerdict("not_supported", None, "chip authentication key is not EC")
    key_id = pk.integer(1)
    eph = ec.generate_private_key(chip_key.curve)
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    ref = b""
    if key_id is not None:
        ref = tlv.encode(0x84, key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big"))
    try:
        if cipher == "3DES":
            _, sw = channel.send(Command(0x00, 0x22, 0x41, 0xA6, tlv.encode(0x91, eph_pub) + ref))
            if sw != SW_OK:
                raise StatusError("MSE:Set KAT", sw)
        else:
            _, sw = channel.send(Command(0x00, 0x22, 0x41, 0xA4, tlv.encode(0x80, encode_oid(ca.oid)) + ref))
            if sw != SW_OK:
                raise StatusError("MSE:Set AT", sw)
            _, sw = channel.send(Command(0x00, 0x86, 0x00, 0x00, tlv.encode(0x7C, tlv.encode(0x80, eph_pub)), le=256))
            if sw != SW_OK:
                raise StatusError("GENERAL AUTHENTICATE", sw)
    except ChipError as exc:
        return CloneVerdict("chip_auth", False, str(exc))
    shared = eph.exchange(ec.ECDH(), chip_key)
    channel.keys = SessionKeys(cipher, crypto.kdf(shared, crypto.KDF_ENC, cipher, bits),
                               crypto.kdf(shared, crypto.KDF_MAC, cipher, bits), 0)
    # the proof is implicit: the chip's next answer must carry a MAC under the new keys
    try:
        _, sw = channel.send(Command(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e"))
    except ChipError as exc:
        return CloneVerdict("chip_auth", False, f"no secure messaging under the new keys: {exc}")
    return CloneVerdict("chip_auth", sw == SW_OK, "" if sw == SW_OK else f"status {sw:04X} under the new keys")
