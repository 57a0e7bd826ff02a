"""Basic Access Control (Doc 9303 part 11 section 4.3): keys from the MRZ, 3DES mutual authentication."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

from edge.chip import crypto
from edge.chip.apdu import SW_OK, Command
from edge.chip.errors import AccessDenied, ProtocolError, StatusError
from edge.chip.sm import SessionKeys
from edge.chip.transport import Channel


def key_seed(mrz_information: str) -> bytes:
    """K_seed: the first 16 bytes of SHA-1 over document number, birth and expiry dates with check digits."""
    return hashlib.sha1(mrz_information.encode("ascii")).digest()[:16]


def access_keys(mrz_information: str) -> tuple[bytes, bytes]:
    seed = key_seed(mrz_information)
    return crypto.kdf(seed, crypto.KDF_ENC, "3DES"), crypto.kdf(seed, crypto.KDF_MAC, "3DES")


def mutual_auth_data(k_enc: bytes, k_mac: bytes, rnd_ifd: bytes, rnd_ic: bytes, k_ifd: bytes) -> bytes:
    """EXTERNAL AUTHENTICATE's data: E_IFD || M_IFD over S = RND.IFD || RND.IC || K.IFD."""
    e = crypto.des3_cbc(k_enc, rnd_ifd + rnd_ic + k_ifd)
    return e + crypto.retail_mac(k_mac, crypto.pad(e, 8))


def session_from_response(
    k_enc: bytes, k_mac: bytes, resp: bytes, rnd_ifd: bytes, rnd_ic: bytes, k_ifd: bytes
) -> SessionKeys:
    """Check the chip's answer and derive KS_enc, KS_mac and the SSC."""
    if len(resp) != 40:
        raise ProtocolError(f"BAC: answer of {len(resp)} bytes, 40 expected")
    e, m = resp[:32], resp[32:]
    if not hmac.compare_digest(crypto.retail_mac(k_mac, crypto.pad(e, 8)), m):
        raise ProtocolError("BAC: the chip's MAC does not verify")
    r = crypto.des3_cbc(k_enc, e, decrypt=True)
    if r[:8] != rnd_ic or r[8:16] != rnd_ifd:
        raise ProtocolError("BAC: the chip's answer does not hold our challenge")
    seed = bytes(a ^ b for a, b in zip(k_ifd, r[16:32], strict=True))
    ssc = int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big")
    return SessionKeys(
        "3DES", crypto.kdf(seed, crypto.KDF_ENC, "3DES"), crypto.kdf(seed, crypto.KDF_MAC, "3DES"), ssc
    )


def perform_bac(channel: Channel, mrz_information: str, rand: Callable[[int], bytes] = os.urandom) -> SessionKeys:
    """GET CHALLENGE then EXTERNAL AUTHENTICATE; one attempt only (a wrong MRZ must not become a retry storm)."""
    k_enc, k_mac = access_keys(mrz_information)
    rnd_ic, sw = channel.send(Command(0x00, 0x84, 0x00, 0x00, le=8))
    if sw != SW_OK or len(rnd_ic) != 8:
        raise StatusError("BAC: GET CHALLENGE", sw)
    rnd_ifd, k_ifd = rand(8), rand(16)
    data = mutual_auth_data(k_enc, k_mac, rnd_ifd, rnd_ic, k_ifd)
    resp, sw = channel.send(Command(0x00, 0x82, 0x00, 0x00, data, le=40))
    if sw != SW_OK:
        raise AccessDenied(f"BAC refused by the chip (status {sw:04X}): the MRZ does not open this chip")
    return session_from_response(k_enc, k_mac, resp, rnd_ifd, rnd_ic, k_ifd)
