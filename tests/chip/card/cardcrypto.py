"""The card's cryptography, written from Doc 9303 part 11 apart from edge.chip's.

Block ciphers and CMAC come from `cryptography`; key derivation, MACs, padding and the elliptic-curve
arithmetic PACE's mapping needs are written here again (affine double-and-add, not the reader's Jacobian).
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def derive(shared: bytes, counter: int, cipher: str, bits: int = 128) -> bytes:
    d = shared + bytes([0, 0, 0, counter])
    if cipher == "AES" and bits > 128:
        return hashlib.sha256(d).digest()[: bits // 8]
    return hashlib.sha1(d).digest()[:16]


def iso_pad(b: bytes, n: int) -> bytes:
    out = bytearray(b) + b"\x80"
    while len(out) % n:
        out.append(0)
    return bytes(out)


def iso_unpad(b: bytes) -> bytes:
    s = b.rstrip(b"\x00")
    if not s.endswith(b"\x80"):
        raise ValueError("padding")
    return s[:-1]


def _run(algo, mode, data: bytes, enc: bool) -> bytes:
    c = Cipher(algo, mode)
    o = c.encryptor() if enc else c.decryptor()
    return o.update(data) + o.finalize()


def tdes_enc(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    return _run(TripleDES(key[:16] + key[:8]), modes.CBC(iv), data, True)


def tdes_dec(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    return _run(TripleDES(key[:16] + key[:8]), modes.CBC(iv), data, False)


def aes_enc(key: bytes, data: bytes, iv: bytes = bytes(16)) -> bytes:
    return _run(algorithms.AES(key), modes.CBC(iv), data, True)


def aes_dec(key: bytes, data: bytes, iv: bytes = bytes(16)) -> bytes:
    return _run(algorithms.AES(key), modes.CBC(iv), data, False)


def des_mac(key: bytes, padded: bytes) -> bytes:
    """ISO 9797-1 algorithm 3: single-DES CBC chain under Ka, then decrypt Kb, encrypt Ka on the last block."""
    ka, kb = key[:8], key[8:16]
    state = bytes(8)
    for i in range(0, len(padded), 8):
        block = bytes(x ^ y for x, y in zip(state, padded[i:i + 8], strict=True))
        state = _run(TripleDES(ka + ka + ka), modes.ECB(), block, True)
    state = _run(TripleDES(kb + kb + kb), modes.ECB(), state, False)
    return _run(TripleDES(ka + ka + ka), modes.ECB(), state, True)


def aes_mac(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()[:8]


class Curve:
    """Short Weierstrass curve over GF(p), affine points, for the card's side of PACE."""

    def __init__(self, p: int, a: int, b: int, g: tuple[int, int], n: int) -> None:
        self.p, self.a, self.b, self.g, self.n = p, a, b, g, n
        self.size = (p.bit_length() + 7) // 8

    def add(self, P, Q):
        if P is None:
            return Q
        if Q is None:
            return P
        p = self.p
        if P[0] == Q[0]:
            if (P[1] + Q[1]) % p == 0:
                return None
            lam = (3 * P[0] * P[0] + self.a) * pow(2 * P[1], p - 2, p) % p
        else:
            lam = (Q[1] - P[1]) * pow(Q[0] - P[0], p - 2, p) % p
        x = (lam * lam - P[0] - Q[0]) % p
        return (x, (lam * (P[0] - x) - P[1]) % p)

    def mul(self, k: int, P):
        """Right-to-left double-and-add in Jacobian coordinates (EFD dbl-2007-bl / add-2007-bl), one inversion."""
        p, a = self.p, self.a

        def dbl(X1, Y1, Z1):
            if Z1 == 0 or Y1 == 0:
                return (1, 1, 0)
            XX, YY = X1 * X1 % p, Y1 * Y1 % p
            YYYY, ZZ = YY * YY % p, Z1 * Z1 % p
            S = 2 * ((X1 + YY) ** 2 - XX - YYYY) % p
            M = (3 * XX + a * ZZ * ZZ) % p
            X3 = (M * M - 2 * S) % p
            return (X3, (M * (S - X3) - 8 * YYYY) % p, ((Y1 + Z1) ** 2 - YY - ZZ) % p)

        def add(P1, P2):
            X1, Y1, Z1 = P1
            X2, Y2, Z2 = P2
            if Z1 == 0:
                return P2
            if Z2 == 0:
                return P1
            Z1Z1, Z2Z2 = Z1 * Z1 % p, Z2 * Z2 % p
            U1, U2 = X1 * Z2Z2 % p, X2 * Z1Z1 % p
            S1, S2 = Y1 * Z2 * Z2Z2 % p, Y2 * Z1 * Z1Z1 % p
            if U1 == U2:
                return dbl(X1, Y1, Z1) if S1 == S2 else (1, 1, 0)
            H = (U2 - U1) % p
            II = (2 * H) ** 2 % p
            J = H * II % p
            r = 2 * (S2 - S1) % p
            V = U1 * II % p
            X3 = (r * r - J - 2 * V) % p
            return (X3, (r * (V - X3) - 2 * S1 * J) % p, ((Z1 + Z2) ** 2 - Z1Z1 - Z2Z2) * H % p)

        if P is None:
            return None
        acc, addend = (1, 1, 0), (P[0], P[1], 1)
        while k:
            if k & 1:
                acc = add(acc, addend)
            addend = dbl(*addend)
            k >>= 1
        if acc[2] == 0:
            return None
        zi = pow(acc[2], p - 2, p)
        return (acc[0] * zi * zi % p, acc[1] * zi * zi * zi % p)

    def point(self, raw: bytes):
        if raw[0] != 4 or len(raw) != 1 + 2 * self.size:
            raise ValueError("point encoding")
        x, y = int.from_bytes(raw[1:1 + self.size], "big"), int.from_bytes(raw[1 + self.size:], "big")
        if (y * y - x ** 3 - self.a * x - self.b) % self.p:
            raise ValueError("point not on curve")
        return (x, y)

    def raw(self, P) -> bytes:
        return b"\x04" + P[0].to_bytes(self.size, "big") + P[1].to_bytes(self.size, "big")


BRAINPOOL256 = Curve(
    int("A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377", 16),
    int("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9", 16),
    int("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6", 16),
    (int("8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262", 16),
     int("547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997", 16)),
    int("A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7", 16),
)

NIST_P256 = Curve(
    int("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF", 16),
    int("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC", 16),
    int("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B", 16),
    (int("6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296", 16),
     int("4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5", 16)),
    int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16),
)
