"""Secure messaging (Doc 9303 part 11 section 9.8): DO87 (DO85 for odd INS)/DO97/DO99/DO8E, 3DES or AES.

The send sequence counter moves once per command and once per response; a response whose MAC does
not verify ends the session (`ProtocolError`): the reader never reads data it cannot authenticate.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.chip import crypto, tlv
from edge.chip.apdu import Command, split_response
from edge.chip.errors import ProtocolError, StatusError
from edge.chip.transport import Transport


@dataclass
class SessionKeys:
    cipher: str            # "3DES" or "AES"
    ks_enc: bytes
    ks_mac: bytes
    ssc: int               # the send sequence counter as a number

    @property
    def block(self) -> int:
        return 8 if self.cipher == "3DES" else 16

    def ssc_bytes(self) -> bytes:
        return self.ssc.to_bytes(self.block, "big")

    def mac(self, data: bytes) -> bytes:
        padded = crypto.pad(self.ssc_bytes() + data, self.block)
        if self.cipher == "3DES":
            return crypto.retail_mac(self.ks_mac, padded)
        return crypto.aes_cmac8(self.ks_mac, padded)

    def _iv(self) -> bytes:
        if self.cipher == "3DES":
            return b"\x00" * 8
        return crypto.aes_ecb_block(self.ks_enc, self.ssc_bytes())

    def encrypt(self, data: bytes) -> bytes:
        padded = crypto.pad(data, self.block)
        if self.cipher == "3DES":
            return crypto.des3_cbc(self.ks_enc, padded, self._iv())
        return crypto.aes_cbc(self.ks_enc, padded, self._iv())

    def decrypt(self, data: bytes) -> bytes:
        if not data or len(data) % self.block:
            raise ProtocolError("secure messaging: encrypted data is not whole blocks")
        if self.cipher == "3DES":
            plain = crypto.des3_cbc(self.ks_enc, data, self._iv(), decrypt=True)
        else:
            plain = crypto.aes_cbc(self.ks_enc, data, self._iv(), decrypt=True)
        return crypto.unpad(plain)


def _le_bytes(le: int, extended: bool) -> bytes:
    if extended:
        return (le & 0xFFFF).to_bytes(2, "big")
    return bytes([le & 0xFF])


def wrap(keys: SessionKeys, cmd: Command) -> bytes:
    """The protected command APDU; increments the SSC."""
    extended = len(cmd.data) > 231 or (cmd.le is not None and cmd.le > 256)
    cla = cmd.cla | 0x0C
    header = crypto.pad(bytes([cla, cmd.ins, cmd.p1, cmd.p2]), keys.block)
    keys.ssc += 1
    do87 = b""
    if cmd.data and cmd.ins & 1:       # odd INS: the data is BER-TLV, carried in DO85 without an indicator
        do87 = tlv.encode(0x85, keys.encrypt(cmd.data))
    elif cmd.data:
        do87 = tlv.encode(0x87, b"\x01" + keys.encrypt(cmd.data))
    do97 = tlv.encode(0x97, _le_bytes(cmd.le, extended)) if cmd.le is not None else b""
    do8e = tlv.encode(0x8E, keys.mac(header + do87 + do97))
    body = do87 + do97 + do8e
    return Command(cla, cmd.ins, cmd.p1, cmd.p2, body, 65536 if extended else 256).encode()


def unwrap(keys: SessionKeys, raw: bytes) -> tuple[bytes, int]:
    """(plain data, status word) of a protected response; increments the SSC, checks the MAC first."""
    data, sw = split_response(raw)
    keys.ssc += 1
    if not data:
        # a plain status word: the chip refused the command outside secure messaging
        raise StatusError("secure messaging: unprotected answer", sw)
    objs = list(tlv.iter_tlv(data))
    do87 = b"".join(tlv.encode(t, v) for t, v in objs if t in (0x85, 0x87))
    do99 = b"".join(tlv.encode(t, v) for t, v in objs if t == 0x99)
    mac = next((v for t, v in objs if t == 0x8E), None)
    if mac is None:
        raise ProtocolError("secure messaging: response without a MAC")
    if keys.mac(do87 + do99) != mac:
        raise ProtocolError("secure messaging: response MAC does not verify")
    inner_sw = int.from_bytes(next((v for t, v in objs if t == 0x99), sw.to_bytes(2, "big")), "big")
    plain = b""
    enc = next((v for t, v in objs if t == 0x87), None)
    if enc is not None:
        if not enc or enc[0] != 0x01:
            raise ProtocolError("secure messaging: unknown padding indicator")
        plain = keys.decrypt(enc[1:])
    enc = next((v for t, v in objs if t == 0x85), None)
    if enc is not None:
        plain = keys.decrypt(enc)
    return plain, inner_sw


class SecureChannel:
    """A channel whose every command and response goes through secure messaging."""

    def __init__(self, transport: Transport, keys: SessionKeys) -> None:
        self.transport = transport
        self.keys = keys

    def send(self, cmd: Command) -> tuple[bytes, int]:
        return unwrap(self.keys, self.transport.transmit(wrap(self.keys, cmd)))
