"""PACE with generic mapping over ECDH (Doc 9303 part 11 section 4.4), AES or 3DES session keys.

Four GENERAL AUTHENTICATE steps: encrypted nonce, mapping (G' = s*G + H), key agreement on G',
mutual authentication tokens. A wrong password shows only at the last step, as the chip's refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from edge.chip import crypto, tlv
from edge.chip.apdu import SW_OK, Command
from edge.chip.ecc import STANDARD_CURVES, Curve
from edge.chip.errors import AccessDenied, ProtocolError, StatusError
from edge.chip.sm import SessionKeys
from edge.chip.transport import Channel

PACE_PREFIX = "0.4.0.127.0.7.2.2.4"
ECDH_GM = PACE_PREFIX + ".2"
# last arc of id-PACE-ECDH-GM-*: (cipher, key bits)
CIPHERS = {1: ("3DES", 128), 2: ("AES", 128), 3: ("AES", 192), 4: ("AES", 256)}
PASSWORD_MRZ = 1
PASSWORD_CAN = 2


@dataclass(frozen=True)
class PaceInfo:
    oid: str
    version: int
    parameter_id: int | None

    @property
    def supported(self) -> bool:
        head, _, last = self.oid.rpartition(".")
        return head == ECDH_GM and last.isdigit() and int(last) in CIPHERS and self.parameter_id in STANDARD_CURVES

    @property
    def cipher(self) -> tuple[str, int]:
        return CIPHERS[int(self.oid.rpartition(".")[2])]


def encode_oid(oid: str) -> bytes:
    arcs = [int(a) for a in oid.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def password_key(password: bytes, info: PaceInfo) -> bytes:
    cipher, bits = info.cipher
    return crypto.kdf(password, crypto.KDF_PACE, cipher, bits)


def mrz_password(mrz_information: str) -> bytes:
    return hashlib.sha1(mrz_information.encode("ascii")).digest()


def _decrypt_nonce(k_pi: bytes, z: bytes, cipher: str) -> bytes:
    if cipher == "3DES":
        return crypto.des3_cbc(k_pi, z, decrypt=True)
    return crypto.aes_cbc(k_pi, z, decrypt=True)


def auth_token(ks_mac: bytes, oid: str, public_point: bytes, cipher: str) -> bytes:
    """T = MAC(KS_mac, 7F49{06 OID, 86 public key}) (Doc 9303 part 11 4.4.3.4)."""
    data = tlv.encode(0x7F49, tlv.encode(0x06, encode_oid(oid)) + tlv.encode(0x86, public_point))
    if cipher == "3DES":
        return crypto.retail_mac(ks_mac, crypto.pad(data, 8))
    return crypto.aes_cmac8(ks_mac, data)


def _ga(channel: Channel, tag: int, value: bytes | None, last: bool, step: str) -> bytes:
    inner = tlv.encode(tag, value) if value is not None else b""
    resp, sw = channel.send(Command(0x00 if last else 0x10, 0x86, 0x00, 0x00, tlv.encode(0x7C, inner), le=256))
    if sw != SW_OK:
        if last:
            raise AccessDenied(f"PACE refused by the chip (status {sw:04X}): the MRZ or CAN does not open this chip")
        raise StatusError(f"PACE: GENERAL AUTHENTICATE ({step})", sw)
    _, body = tlv.parse_one(resp, 0x7C)
    return body


def _expect(body: bytes, tag: int, step: str) -> bytes:
    value = tlv.children(body).get(tag)
    if value is None:
        raise ProtocolError(f"PACE: {step} answer lacks tag {tag:02X}")
    return value


def perform_pace(
    channel: Channel,
    password: bytes,
    info: PaceInfo,
    password_ref: int = PASSWORD_MRZ,
    rand_scalar: Callable[[Curve], int] | None = None,
) -> SessionKeys:
    """Run PACE-GM-ECDH once; returns fresh secure-messaging keys with SSC 0."""
    if not info.supported:
        raise ProtocolError(f"PACE: unsupported protocol {info.oid} / parameters {info.parameter_id}")
    curve = STANDARD_CURVES[info.parameter_id]  # type: ignore[index]
    cipher, bits = info.cipher
    pick = rand_scalar or (lambda c: 1 + secrets.randbelow(c.n - 1))

    mse = (tlv.encode(0x80, encode_oid(info.oid)) + tlv.encode(0x83, bytes([password_ref]))
           + tlv.encode(0x84, bytes([info.parameter_id])))  # type: ignore[list-item]
    _, sw = channel.send(Command(0x00, 0x22, 0xC1, 0xA4, mse))
    if sw != SW_OK:
        if password_ref == PASSWORD_CAN:
            raise AccessDenied(f"PACE with a CAN refused by the chip (status {sw:04X})")
        raise StatusError("PACE: MSE:Set AT", sw)

    z = _expect(_ga(channel, 0x80, None, False, "nonce"), 0x80, "nonce")
    s = int.from_bytes(_decrypt_nonce(password_key(password, info), z, cipher), "big")

    sk_map = pick(curve)
    pk_map_ic = curve.decode(_expect(_ga(channel, 0x81, curve.encode(curve.mul(sk_map, curve.g)), False, "map"),
                                     0x82, "map"))
    h = curve.mul(sk_map, pk_map_ic)
    g_mapped = curve.add(curve.mul(s, curve.g), h)
    if g_mapped is None:
        raise ProtocolError("PACE: mapped generator is the point at infinity")

    sk_eph = pick(curve)
    pk_ifd = curve.encode(curve.mul(sk_eph, g_mapped))
    pk_ic_bytes = _expect(_ga(channel, 0x83, pk_ifd, False, "key agreement"), 0x84, "key agreement")
    if pk_ic_bytes == pk_ifd:
        raise ProtocolError("PACE: the chip echoed our ephemeral key")
    shared = curve.mul(sk_eph, curve.decode(pk_ic_bytes))
    if shared is None:
        raise ProtocolError("PACE: shared secret is the point at infinity")
    k = shared[0].to_bytes(curve.size, "big")
    keys = SessionKeys(cipher, crypto.kdf(k, crypto.KDF_ENC, cipher, bits),
                       crypto.kdf(k, crypto.KDF_MAC, cipher, bits), 0)

    t_ifd = auth_token(keys.ks_mac, info.oid, pk_ic_bytes, cipher)
    t_ic = _expect(_ga(channel, 0x85, t_ifd, True, "mutual authentication"), 0x86, "mutual authentication")
    if not hmac.compare_digest(t_ic, auth_token(keys.ks_mac, info.oid, pk_ifd, cipher)):
        raise ProtocolError("PACE: the chip's authentication token does not verify")
    return keys
