"""One chip read: access control (PACE first, else BAC), the files, then every verification.

`read_passport` never raises for the chip's or the card's faults: a wrong MRZ, a pulled card, a file
that does not parse each end up in the `ChipResult` as a verdict. It makes one access attempt only,
so a wrong MRZ cannot become a retry storm that some chips punish by slowing down or locking.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from edge.chip import bac, clone, lds, pace, passive, tlv
from edge.chip.access_key import MrzKey
from edge.chip.apdu import SW_FILE_NOT_FOUND, SW_OK, Command
from edge.chip.errors import (
    AccessDenied,
    CardRemoved,
    ChipError,
    MalformedData,
    ProtocolError,
    StatusError,
)
from edge.chip.result import ChipResult, PassiveAuth
from edge.chip.sm import SecureChannel
from edge.chip.transport import Channel, CountingTransport, PlainChannel, Transport

log = logging.getLogger(__name__)

SHORT_READ = 0xDF          # the most a short-Le chip returns per READ BINARY under secure messaging
EXTENDED_READ = 0x400      # per READ BINARY when the chip announces extended length (ATR)
EVEN_INS_END = 0x7FFF      # even-INS READ BINARY offsets end here (15 bits); beyond, odd INS with DO54
MAX_FILE = 1 << 20         # a data group claiming more is malformed, not read

Progress = Callable[[str, int, int], None]     # (stage, bytes done, bytes total)


class _Guarded:
    """Maps a driver's lost card (ConnectionError/OSError) to `CardRemoved`; counts APDUs."""

    def __init__(self, inner: Transport) -> None:
        self.counter = CountingTransport(inner)

    def transmit(self, apdu: bytes) -> bytes:
        try:
            return self.counter.transmit(apdu)
        except (ConnectionError, OSError, EOFError) as exc:
            raise CardRemoved(f"the card was removed or the reader went away ({type(exc).__name__})") from exc


def extended_length_supported(atr: bytes | None) -> bool:
    """ISO 7816-4 8.1.1.2.7: the card capabilities (tag 0x73, third byte, bit 0x40) in the historical bytes."""
    if not atr or len(atr) < 4:
        return False
    t0 = atr[1]
    pos, y = 2, t0 >> 4
    k = t0 & 0x0F
    try:
        while y:
            td = None
            for bit in (1, 2, 4, 8):
                if y & bit:
                    if bit == 8:
                        td = atr[pos]
                    pos += 1
            y = (td >> 4) if td is not None else 0
        hist = atr[pos:pos + k]
    except IndexError:
        return False
    if not hist or hist[0] != 0x80:
        return False
    i = 1
    while i < len(hist):
        tag, length = hist[i] >> 4, hist[i] & 0x0F
        if tag == 0x7 and length >= 3 and i + 3 < len(hist):
            return bool(hist[i + 3] & 0x40)
        i += 1 + length
    return False


def select_file(channel: Channel, fid: int) -> bool:
    _, sw = channel.send(Command(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")))
    if sw == SW_FILE_NOT_FOUND:
        return False
    if sw != SW_OK:
        raise StatusError(f"SELECT {fid:04X}", sw)
    return True


def read_file(
    channel: Channel, fid: int, chunk: int, progress: Callable[[int, int], None] | None = None
) -> bytes | None:
    """A whole transparent EF (None if the chip has no such file), sized from its first TLV header."""
    if not select_file(channel, fid):
        return None
    head, sw = channel.send(Command(0x00, 0xB0, 0x00, 0x00, le=4))
    if sw != SW_OK or not head:
        raise StatusError(f"READ BINARY {fid:04X}", sw)
    hlen, vlen = tlv.header_size(head)
    total = hlen + vlen
    if total > MAX_FILE:
        raise MalformedData(f"file {fid:04X} claims {total} bytes, more than this reader reads")
    data = bytearray(head[:total])
    while len(data) < total:
        want = min(chunk, total - len(data))
        offset = len(data)
        if offset + want <= EVEN_INS_END + 1:
            part, sw = channel.send(Command(0x00, 0xB0, offset >> 8, offset & 0xFF, le=want))
        else:
            want = min(want, chunk - 4)          # room for the DO53 header in the answer
            do54 = tlv.encode(0x54, offset.to_bytes((offset.bit_length() + 7) // 8, "big"))
            wrapped, sw = channel.send(Command(0x00, 0xB1, 0x00, 0x00, do54, le=want + 4))
            part = tlv.parse_one(wrapped, 0x53)[1] if sw == SW_OK and wrapped else b""
        if sw != SW_OK or not part:
            raise StatusError(f"READ BINARY {fid:04X} at {offset}", sw)
        data += part[:want]
        if progress:
            progress(len(data), total)
    return bytes(data)


def _pace_info(card_access: bytes | None) -> pace.PaceInfo | None:
    if not card_access:
        return None
    try:
        infos = lds.parse_security_infos(card_access)
    except MalformedData:
        return None
    for i in infos:
        if i.oid.startswith(pace.PACE_PREFIX + "."):
            info = pace.PaceInfo(i.oid, i.integer(0) or 0, i.integer(1))
            if info.supported:
                return info
    return None


def _open(transport: _Guarded, key: MrzKey, result: ChipResult, can: str | None = None) -> SecureChannel:
    plain = PlainChannel(transport)
    try:
        card_access = read_file(plain, lds.FID_CARD_ACCESS, SHORT_READ)
    except (StatusError, MalformedData):
        card_access = None
    info = _pace_info(card_access)
    if can is not None and info is None:
        raise AccessDenied("a CAN was given but the chip offers no PACE it can be used with")
    if info is not None:
        if can is not None:
            password, ref = can.encode("ascii"), pace.PASSWORD_CAN
        else:
            password, ref = pace.mrz_password(key.information), pace.PASSWORD_MRZ
        try:
            keys = pace.perform_pace(plain, password, info, ref)
            channel = SecureChannel(transport, keys)
            _, sw = channel.send(Command(0x00, 0xA4, 0x04, 0x0C, lds.AID_LDS1))
            if sw != SW_OK:
                raise StatusError("SELECT eMRTD application", sw)
            result.access = "PACE"
            return channel
        except AccessDenied:
            raise
        except ProtocolError as exc:
            if can is not None:
                raise

            log.info("PACE failed (%s); trying BAC", exc)
    _, sw = plain.send(Command(0x00, 0xA4, 0x04, 0x0C, lds.AID_LDS1))
    if sw != SW_OK:
        raise StatusError("SELECT eMRTD application", sw)
    channel = SecureChannel(transport, bac.perform_bac(plain, key.information))
    result.access = "BAC"
    return channel


def _read_all(channel: SecureChannel, chunk: int, result: ChipResult, progress: Progress | None) -> bytes | None:
    def stage(name: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    com = read_file(channel, lds.FID_COM, chunk, stage("EF.COM"))
    wanted = [1, 2]
    if com:
        try:
            listed = lds.parse_com(com).data_groups
            wanted = [n for n in lds.READABLE_DGS if n in listed]
        except MalformedData as exc:
            result.problems.append(f"EF.COM: {exc}")
    sod = read_file(channel, lds.FID_SOD, chunk, stage("EF.SOD"))
    for n in wanted:
        data = read_file(channel, lds.dg_fid(n), chunk, stage(f"DG{n}"))
        if data is not None:
            result.files[n] = data
            result.data_groups.append(n)
    return sod


def _verify(channel: SecureChannel, sod_bytes: bytes | None, key: MrzKey, store: passive.CscaStore | None,
            result: ChipResult, now: dt.datetime | None) -> None:
    pa = PassiveAuth()
    result.passive = pa
    sod = None
    if sod_bytes is None:
        pa.reasons.append("the chip has no EF.SOD")
    else:
        try:
            sod = passive.parse_sod(sod_bytes)
        except MalformedData as exc:
            pa.reasons.append(f"EF.SOD: {exc}")
    if sod is not None:
        pa.sod_signature = sod.signed.signature_ok
        if sod.signed.problem:
            pa.reasons.append(f"SOD signature: {sod.signed.problem}")
        pa.hashes = passive.dg_hashes_match(sod, result.files)
        if sod.signed.signer is not None:
            pa.signer = sod.signed.signer.subject.rfc4514_string()
            if store is not None and len(store):
                ok, why = passive.chain_to_csca(sod.signed.signer, store, now)
                pa.csca_chain = ok
                if why:
                    pa.reasons.append(f"chain: {why}")
        if store is not None and len(store) and pa.csca_chain is None:
            pa.csca_chain = False
    else:
        pa.hashes = {n: False for n in result.files}
        pa.csca_chain = False if store is not None and len(store) else None

    if 1 in result.files:
        try:
            result.dg1_mrz = lds.parse_dg1(result.files[1])
            result.mrz_match = result.dg1_mrz == key.mrz
        except MalformedData as exc:
            result.problems.append(f"DG1: {exc}")
            result.mrz_match = False
    if 2 in result.files:
        try:
            result.face = lds.parse_dg2(result.files[2])
        except MalformedData as exc:
            result.problems.append(f"DG2: {exc}")
    _clone_check(channel, result)


def _clone_check(channel: SecureChannel, result: ChipResult) -> None:
    hashes = result.passive.hashes
    infos: list[lds.SecurityInfo] = []
    if 14 in result.files:
        try:
            infos = lds.parse_security_infos(result.files[14])
        except MalformedData as exc:
            result.problems.append(f"DG14: {exc}")
    try:
        if any(i.oid.startswith(clone.CA_PREFIX + ".") for i in infos):
            if not hashes.get(14):
                result.clone = clone.CloneVerdict("chip_auth", False, "DG14 is not covered by the SOD")
                return
            result.clone = clone.chip_authentication(channel, infos)
            if result.clone.method != "not_supported":
                return
        if 15 in result.files:
            if not hashes.get(15):
                result.clone = clone.CloneVerdict("active_auth", False, "DG15 is not covered by the SOD")
                return
            result.clone = clone.active_authentication(channel, result.files[15], infos)
    except MalformedData as exc:
        result.clone = clone.CloneVerdict("active_auth" if 15 in result.files else "chip_auth", False, str(exc))


def read_passport(
    transport: Transport,
    key: MrzKey,
    store: passive.CscaStore | None = None,
    progress: Progress | None = None,
    atr: bytes | None = None,
    now: dt.datetime | None = None,
    can: str | None = None,
) -> ChipResult:
    """Open, read and verify one chip; every failure is a verdict in the result, never an exception."""
    result = ChipResult()
    guarded = _Guarded(transport)
    chunk = EXTENDED_READ if extended_length_supported(atr) else SHORT_READ
    t0 = time.perf_counter()
    stage = "access"
    try:
        if progress:
            progress("access", 0, 1)
        channel = _open(guarded, key, result, can)
        t1 = time.perf_counter()
        result.seconds["access"] = t1 - t0
        stage = "read"
        sod = _read_all(channel, chunk, result, progress)
        t2 = time.perf_counter()
        result.seconds["read"] = t2 - t1
        stage = "verify"
        if progress:
            progress("verify", 0, 1)
        _verify(channel, sod, key, store, result, now)
        result.seconds["verify"] = time.perf_counter() - t2
    except AccessDenied as exc:
        result.error, result.error_kind = str(exc), "access_denied"
    except CardRemoved as exc:
        result.error, result.error_kind = f"{exc} during {stage}", "card_removed"
    except MalformedData as exc:
        result.error, result.error_kind = f"{exc} during {stage}", "malformed"
    except ChipError as exc:
        result.error, result.error_kind = f"{exc} during {stage}", "protocol"
    except Exception as exc:  # a reader bug must still end in a verdict (never "valid"), not a traceback
        log.error("chip read: internal error during %s: %s", stage, type(exc).__name__, exc_info=log.isEnabledFor(10))
        result.error, result.error_kind = f"internal error ({type(exc).__name__}) during {stage}", "internal"
    result.apdus = guarded.counter.apdus
    result.bytes_exchanged = guarded.counter.bytes_in + guarded.counter.bytes_out
    return result
