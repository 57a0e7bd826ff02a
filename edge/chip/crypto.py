"""Doc 9303 part 11 symmetric primitives over `cryptography`: KDF, 3DES/AES CBC, retail MAC, CMAC, padding."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from edge.chip.errors import ProtocolError

KDF_ENC = 1
KDF_MAC = 2
KDF_PACE = 3


def kdf(secret: bytes, counter: int, cipher: str, key_bits: int = 128) -> bytes:
    """Doc 9303 part 11 9.7.1: SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256."""
    data = secret + counter.to_bytes(4, "big")
    if cipher == "3DES":
        return des_parity(hashlib.sha1(data).digest()[:16])
    if key_bits == 128:
        return hashlib.sha1(data).digest()[:16]
    return hashlib.sha256(data).digest()[: key_bits // 8]


def des_parity(key: bytes) -> bytes:
    """Each byte with odd parity in its low bit, as the spec's worked keys show (DES ignores it)."""
    return bytes((b & 0xFE) | (bin(b >> 1).count("1") + 1) % 2 for b in key)


def pad(data: bytes, block: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2 (0x80 then zeros to a block boundary)."""
    data += b"\x80"
    return data + b"\x00" * (-len(data) % block)


def unpad(data: bytes) -> bytes:
    i = len(data) - 1
    while i >= 0 and data[i] == 0:
        i -= 1
    if i < 0 or data[i] != 0x80:
        raise ProtocolError("secure messaging: bad padding in decrypted data")
    return data[:i]


def _tdes(key: bytes) -> TripleDES:
    return TripleDES(key + key[:8] if len(key) == 16 else key)


def des3_cbc(key: bytes, data: bytes, iv: bytes = b"\x00" * 8, decrypt: bool = False) -> bytes:
    c = Cipher(_tdes(key), modes.CBC(iv))
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def aes_cbc(key: bytes, data: bytes, iv: bytes = b"\x00" * 16, decrypt: bool = False) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def aes_ecb_block(key: bytes, block: bytes) -> bytes:
    op = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return op.update(block) + op.finalize()


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with single DES (K1) and 3DES last block; `data` already padded."""
    k1, k2 = key[:8], key[8:16]
    single = Cipher(TripleDES(k1 * 3), modes.CBC(b"\x00" * 8)).encryptor()
    h = (single.update(data) + single.finalize())[-8:]
    dec = Cipher(TripleDES(k2 * 3), modes.ECB()).decryptor()
    h = dec.update(h) + dec.finalize()
    enc = Cipher(TripleDES(k1 * 3), modes.ECB()).encryptor()
    return enc.update(h) + enc.finalize()


def aes_cmac8(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()[:8]
