"""The card: an ISO 7816-4 eMRTD application answering BAC, PACE, secure messaging, READ BINARY,
chip authentication and active authentication, from a directory `personalise.issue` wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.chip.card import cardcrypto as cc
from tests.chip.card.ber import oid, parse, tlv
from tests.chip.card.oids import CA_OID, pace_oid

AID = bytes.fromhex("A0000002471001")
CURVES = {12: cc.NIST_P256, 13: cc.BRAINPOOL256}
OK = b"\x90\x00"


class CardLeft(Exception):
    """The card leaves the field (the test pulls it mid-read)."""


def sw(code: int) -> bytes:
    return code.to_bytes(2, "big")


class Passport:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.cfg = json.loads((self.dir / "config.json").read_text())
        self.files = {int(p.stem, 16): p.read_bytes() for p in (self.dir / "files").glob("*.bin")}
        self.log = self.dir / "events.log"
        self.reset()

    def reset(self) -> None:
        self.app = False
        self.ef: int | None = None
        self.sm: dict | None = None          # {"cipher", "enc", "mac", "ssc"}
        self.challenge: bytes | None = None
        self.pace: dict = {}
        self.ca_oid: str | None = None
        self.dg2_served = 0

    def note(self, what: str) -> None:
        with self.log.open("a") as f:
            f.write(what + "\n")

    # ---------------------------------------------------------------- secure messaging
    def _blk(self) -> int:
        return 8 if self.sm["cipher"] == "3DES" else 16

    def _mac(self, data: bytes) -> bytes:
        s = self.sm
        msg = cc.iso_pad(s["ssc"].to_bytes(self._blk(), "big") + data, self._blk())
        return cc.des_mac(s["mac"], msg) if s["cipher"] == "3DES" else cc.aes_mac(s["mac"], msg)

    def _iv(self) -> bytes:
        s = self.sm
        if s["cipher"] == "3DES":
            return bytes(8)
        return cc.aes_enc(s["enc"], s["ssc"].to_bytes(16, "big"))

    def _crypt(self, data: bytes, enc: bool) -> bytes:
        s = self.sm
        if s["cipher"] == "3DES":
            return (cc.tdes_enc if enc else cc.tdes_dec)(s["enc"], data, self._iv())
        return (cc.aes_enc if enc else cc.aes_dec)(s["enc"], data, self._iv())

    def _unwrap(self, apdu: bytes) -> tuple[bytes, bytes, int | None]:
        """(header, data, Le) of a protected command; ValueError for a bad MAC or shape."""
        header, body = apdu[:4], apdu[5:-1] if apdu[4] else apdu[7:-2]
        objs = dict(parse(body))
        self.sm["ssc"] += 1
        blk = self._blk()
        mac_input = cc.iso_pad(header, blk)
        for t in (0x85, 0x87, 0x97):
            if t in objs:
                mac_input += tlv(t, objs[t])
        if 0x8E not in objs or self._mac(mac_input) != objs[0x8E]:
            raise ValueError("command MAC")
        data = cc.iso_unpad(self._crypt(objs[0x87][1:], False)) if 0x87 in objs else b""
        if 0x85 in objs:                       # odd INS: BER-TLV data, no padding-content indicator
            data = cc.iso_unpad(self._crypt(objs[0x85], False))
        le = None
        if 0x97 in objs:
            le = int.from_bytes(objs[0x97], "big") or (256 if len(objs[0x97]) == 1 else 65536)
        return header, data, le

    def _wrap(self, data: bytes, status: bytes, odd: bool = False) -> bytes:
        self.sm["ssc"] += 1
        body = b""
        if data and odd:
            body += tlv(0x85, self._crypt(cc.iso_pad(data, self._blk()), True))
        elif data:
            body += tlv(0x87, b"\x01" + self._crypt(cc.iso_pad(data, self._blk()), True))
        body += tlv(0x99, status)
        return body + tlv(0x8E, self._mac(body)) + status

    # ---------------------------------------------------------------- dispatch
    def process(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return sw(0x6700)
        if apdu[0] & 0x0C == 0x0C:
            if self.sm is None:
                return sw(0x6987)
            if self.cfg["short_le"] and len(apdu) > 5 and apdu[4] == 0:
                self.sm = None
                return sw(0x6700)               # this chip knows no extended length
            try:
                header, data, le = self._unwrap(apdu)
            except (ValueError, IndexError, KeyError):
                self.sm = None
                return sw(0x6988)
            if self.cfg["short_le"] and header[1] in (0xB0, 0xB1) and le is not None and le > 0xDF:
                return self._wrap(b"", sw(0x6700))
            rdata, status = self.command(header, data, le)
            resp = self._wrap(rdata, status, odd=bool(header[1] & 1))
            self._after_response()
            return resp
        if self.sm is not None and apdu[1] not in (0xA4,):
            self.sm = None                          # a plain command ends the secure session
        header = apdu[:4]
        data, le = b"", None
        if len(apdu) == 5:
            le = apdu[4] or 256
        elif len(apdu) > 5:
            n = apdu[4]
            data = apdu[5:5 + n]
            if len(apdu) > 5 + n:
                le = apdu[5 + n] or 256
        rdata, status = self.command(header, data, le, plain=True)
        return rdata + status

    def _after_response(self) -> None:
        pending = self.pace.pop("switch", None)
        if pending:
            self.sm = pending

    def command(self, h: bytes, data: bytes, le: int | None, plain: bool = False) -> tuple[bytes, bytes]:
        ins, p1, p2 = h[1], h[2], h[3]
        if ins == 0xA4:
            return self.select(p1, data, plain)
        if ins == 0xB0:
            if plain and self.ef != 0x011C:
                return b"", sw(0x6982)
            return self.read(((p1 & 0x7F) << 8) | p2, le or 256)
        if ins == 0xB1 and not plain:        # offset in DO54, data back in DO53 (ISO 7816-4 odd INS)
            objs = dict(parse(data))
            if 0x54 not in objs:
                return b"", sw(0x6A80)
            room = (le or 256) - 4
            chunk, status = self.read(int.from_bytes(objs[0x54], "big"), room)
            return (tlv(0x53, chunk) if chunk else b""), status
        if ins == 0x84 and plain:
            self.challenge = secrets.token_bytes(8)
            return self.challenge, OK
        if ins == 0x82 and plain:
            return self.bac(data)
        if ins == 0x22:
            return self.mse(p1, p2, data, plain)
        if ins == 0x86:
            return self.general_authenticate(h[0], data, plain)
        if ins == 0x88 and not plain:
            return self.internal_authenticate(data)
        return b"", sw(0x6D00)

    def select(self, p1: int, data: bytes, plain: bool) -> tuple[bytes, bytes]:
        if p1 == 0x04:
            if data != AID:
                return b"", sw(0x6A82)
            self.app = True
            return b"", OK
        fid = int.from_bytes(data, "big")
        if fid == 0x011C and 0x011C in self.files:
            self.ef = fid
            return b"", OK
        if plain:
            return b"", sw(0x6982)
        if fid not in self.files:
            return b"", sw(0x6A82)
        self.ef = fid
        return b"", OK

    def read(self, offset: int, le: int) -> tuple[bytes, bytes]:
        if self.ef is None:
            return b"", sw(0x6986)
        content = self.files[self.ef]
        if offset >= len(content):
            return b"", sw(0x6B00)
        chunk = content[offset:offset + le]
        if self.ef == 0x0102 and self.cfg["pull_after"]:
            self.dg2_served += len(chunk)
            if self.dg2_served >= self.cfg["pull_after"]:
                raise CardLeft
        return chunk, OK if len(chunk) == le else sw(0x6282)

    # ---------------------------------------------------------------- BAC (part 11, 4.3)
    def _bac_keys(self) -> tuple[bytes, bytes]:
        seed = hashlib.sha1(self.cfg["mrz_information"].encode()).digest()[:16]
        return cc.derive(seed, 1, "3DES"), cc.derive(seed, 2, "3DES")

    def bac(self, data: bytes) -> tuple[bytes, bytes]:
        k_enc, k_mac = self._bac_keys()
        if self.challenge is None or len(data) != 40:
            return b"", sw(0x6985)
        if cc.des_mac(k_mac, cc.iso_pad(data[:32], 8)) != data[32:]:
            self.note("bac-fail")
            self.challenge = None
            return b"", sw(0x6300)
        s = cc.tdes_dec(k_enc, data[:32])
        rnd_ifd, rnd_ic, k_ifd = s[:8], s[8:16], s[16:]
        if rnd_ic != self.challenge:
            self.note("bac-fail")
            return b"", sw(0x6300)
        k_ic = secrets.token_bytes(16)
        r = cc.tdes_enc(k_enc, rnd_ic + rnd_ifd + k_ic)
        seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
        self.sm = {"cipher": "3DES", "enc": cc.derive(seed, 1, "3DES"), "mac": cc.derive(seed, 2, "3DES"),
                   "ssc": int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big")}
        self.note("bac-ok")
        return r + cc.des_mac(k_mac, cc.iso_pad(r, 8)), OK

    # ---------------------------------------------------------------- PACE (4.4) and CA (6.2)
    def _pace_oid(self) -> str:
        return pace_oid(self.cfg.get("pace_cipher", "AES"))

    def mse(self, p1: int, p2: int, data: bytes, plain: bool) -> tuple[bytes, bytes]:
        objs = dict(parse(data))
        if (p1, p2) == (0xC1, 0xA4) and self.cfg["pace"]:
            param = bytes([self.cfg.get("pace_param", 13)])
            ref = objs.get(0x83)
            if objs.get(0x80) != oid(self._pace_oid()) or objs.get(0x84) != param or ref not in (b"\x01", b"\x02"):
                return b"", sw(0x6A80)
            if ref == b"\x02" and not self.cfg.get("can"):
                return b"", sw(0x6A88)
            self.pace = {"step": 1, "ref": ref[0]}
            return b"", OK
        if (p1, p2) == (0x41, 0xA4) and not plain and self.cfg["chip_auth"]:
            if objs.get(0x80) != oid(CA_OID):
                return b"", sw(0x6A80)
            self.ca_oid = CA_OID
            return b"", OK
        return b"", sw(0x6A80)

    def _pace_crypto(self):
        """(encrypt, mac over unpadded data, block size) for the PACE cipher."""
        if self.cfg.get("pace_cipher", "AES") == "3DES":
            return cc.tdes_enc, (lambda k, d: cc.des_mac(k, cc.iso_pad(d, 8))), 8
        return cc.aes_enc, cc.aes_mac, 16

    def general_authenticate(self, cla: int, data: bytes, plain: bool) -> tuple[bytes, bytes]:
        try:
            body = dict(parse(dict(parse(data))[0x7C]))
        except (KeyError, ValueError, IndexError):
            return b"", sw(0x6A80)
        if not plain and self.ca_oid:
            return self.chip_authentication(body)
        step = self.pace.get("step")
        curve = CURVES[self.cfg.get("pace_param", 13)]
        cipher = self.cfg.get("pace_cipher", "AES")
        encrypt, mac, _ = self._pace_crypto()
        try:
            if step == 1 and not body:
                self.pace["s"] = secrets.token_bytes(16)
                if self.pace["ref"] == 2:
                    password = self.cfg["can"].encode()
                else:
                    password = hashlib.sha1(self.cfg["mrz_information"].encode()).digest()
                k_pi = cc.derive(password, 3, cipher)
                self.pace["step"] = 2
                return tlv(0x7C, tlv(0x80, encrypt(k_pi, self.pace["s"]))), OK
            if step == 2 and 0x81 in body:
                sk = 1 + secrets.randbelow(curve.n - 1)
                h = curve.mul(sk, curve.point(body[0x81]))
                s = int.from_bytes(self.pace["s"], "big")
                self.pace.update(step=3, g=curve.add(curve.mul(s, curve.g), h))
                return tlv(0x7C, tlv(0x82, curve.raw(curve.mul(sk, curve.g)))), OK
            if step == 3 and 0x83 in body:
                sk = 1 + secrets.randbelow(curve.n - 1)
                pk_ifd = body[0x83]
                pk_ic = curve.raw(curve.mul(sk, self.pace["g"]))
                k = curve.mul(sk, curve.point(pk_ifd))[0].to_bytes(curve.size, "big")
                self.pace.update(step=4, pk_ifd=pk_ifd, pk_ic=pk_ic, enc=cc.derive(k, 1, cipher),
                                 mac=cc.derive(k, 2, cipher))
                return tlv(0x7C, tlv(0x84, pk_ic)), OK
            if step == 4 and 0x85 in body and cla & 0x10 == 0:
                def token(pk: bytes) -> bytes:
                    return mac(self.pace["mac"], tlv(0x7F49, tlv(0x06, oid(self._pace_oid())) + tlv(0x86, pk)))
                if token(self.pace["pk_ic"]) != body[0x85]:
                    self.note("pace-fail")
                    self.pace = {}
                    return b"", sw(0x6300)
                self.sm = {"cipher": cipher, "enc": self.pace["enc"], "mac": self.pace["mac"], "ssc": 0}
                t_ic = token(self.pace["pk_ifd"])
                self.pace = {}
                self.note("pace-ok")
                return tlv(0x7C, tlv(0x86, t_ic)), OK
        except (ValueError, TypeError):
            self.pace = {}
            return b"", sw(0x6A80)
        self.pace = {}
        return b"", sw(0x6985)

    def chip_authentication(self, body: dict) -> tuple[bytes, bytes]:
        key = serialization.load_pem_private_key((self.dir / "ca_key.pem").read_bytes(), None)
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, body[0x80])
        except (KeyError, ValueError):
            return b"", sw(0x6A80)
        k = key.exchange(ec.ECDH(), peer)
        # the answer still goes out under the old keys; the new ones start with the next command
        self.pace["switch"] = {"cipher": "AES", "enc": cc.derive(k, 1, "AES"), "mac": cc.derive(k, 2, "AES"),
                               "ssc": 0}
        self.ca_oid = None
        self.note("ca-ok")
        return tlv(0x7C, b""), OK

    # ---------------------------------------------------------------- AA (6.1), ISO 9796-2 scheme 1
    def internal_authenticate(self, challenge: bytes) -> tuple[bytes, bytes]:
        if not self.cfg["active_auth"] or len(challenge) != 8:
            return b"", sw(0x6D00)
        key = serialization.load_pem_private_key((self.dir / "aa_key.pem").read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(challenge, ec.ECDSA(hashes.SHA256())))
            self.note("aa")
            return r.to_bytes(32, "big") + s.to_bytes(32, "big"), OK
        nums = key.private_numbers()
        n, d = nums.public_numbers.n, nums.d
        k = (n.bit_length() + 7) // 8
        m1 = os.urandom(k - 20 - 2)
        m = b"\x6a" + m1 + hashlib.sha1(m1 + challenge).digest() + b"\xbc"
        sig = pow(int.from_bytes(m, "big"), d, n).to_bytes(k, "big")
        self.note("aa")
        return sig, OK
