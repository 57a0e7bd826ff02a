"""The logical data structure (Doc 9303 part 10): file ids, EF.COM, DG1, DG2 face records, security infos.

Pure parsers over the bytes of whole files; anything malformed raises `MalformedData`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.chip import tlv
from edge.chip.errors import MalformedData

AID_LDS1 = bytes.fromhex("A0000002471001")
FID_CARD_ACCESS = 0x011C
FID_COM = 0x011E
FID_SOD = 0x011D
TAG_COM, TAG_SOD = 0x60, 0x77
DG_TAGS = {1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68, 9: 0x69, 10: 0x6A,
           11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70}
TAG_TO_DG = {v: k for k, v in DG_TAGS.items()}
# data groups this reader reads when EF.COM lists them (DG3/DG4 need terminal authentication)
READABLE_DGS = (1, 2, 11, 12, 14, 15)


def dg_fid(number: int) -> int:
    return 0x0100 + number


@dataclass(frozen=True)
class Com:
    lds_version: str
    unicode_version: str
    data_groups: tuple[int, ...]


def parse_com(data: bytes) -> Com:
    _, value = tlv.parse_one(data, TAG_COM)
    kids = tlv.children(value)
    if 0x5C not in kids:
        raise MalformedData("EF.COM has no tag list")
    dgs = []
    for t in kids[0x5C]:
        if t not in TAG_TO_DG:
            raise MalformedData(f"EF.COM lists unknown tag {t:02X}")
        dgs.append(TAG_TO_DG[t])
    return Com(kids.get(0x5F01, b"").decode("ascii", "replace"), kids.get(0x5F36, b"").decode("ascii", "replace"),
               tuple(dgs))


def parse_dg1(data: bytes) -> str:
    """The MRZ as one string of 88 (TD3), 72 (TD2) or 90 (TD1) characters."""
    _, value = tlv.parse_one(data, DG_TAGS[1])
    mrz = tlv.children(value).get(0x5F1F)
    if mrz is None:
        raise MalformedData("DG1 has no MRZ (5F1F)")
    text = mrz.decode("ascii", "replace")
    if len(text) not in (72, 88, 90):
        raise MalformedData(f"DG1 MRZ has {len(text)} characters")
    return text


@dataclass(frozen=True)
class FaceImage:
    format: str          # "jpeg" | "jpeg2000"
    data: bytes
    width: int
    height: int


_JPEG_MAGIC = b"\xff\xd8"
_JP2_MAGICS = (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")


def _image_format(type_byte: int, data: bytes) -> str:
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data.startswith(_JP2_MAGICS):
        return "jpeg2000"
    raise MalformedData(f"DG2 image is neither JPEG nor JPEG 2000 (declared type {type_byte})")


def parse_face_record(bdb: bytes) -> FaceImage:
    """The first image of an ISO/IEC 19794-5:2005 facial record ('FAC\\0' header, facial information, image)."""
    if len(bdb) < 14 or bdb[:4] != b"FAC\x00":
        raise MalformedData("DG2 biometric data block is not an ISO 19794-5 facial record")
    count = int.from_bytes(bdb[12:14], "big")
    if count < 1:
        raise MalformedData("DG2 facial record holds no image")
    pos = 14
    if pos + 20 > len(bdb):
        raise MalformedData("DG2 facial information is cut short")
    block_len = int.from_bytes(bdb[pos:pos + 4], "big")
    points = int.from_bytes(bdb[pos + 4:pos + 6], "big")
    info = pos + 20 + 8 * points
    if info + 12 > len(bdb) or block_len < 32 + 8 * points or pos + block_len > len(bdb):
        raise MalformedData("DG2 facial record lengths do not fit the data")
    type_byte = bdb[info + 1]
    width = int.from_bytes(bdb[info + 2:info + 4], "big")
    height = int.from_bytes(bdb[info + 4:info + 6], "big")
    image = bdb[info + 12:pos + block_len]
    return FaceImage(_image_format(type_byte, image), image, width, height)


def parse_dg2(data: bytes) -> FaceImage:
    """DG2 -> biometric information group template (7F61) -> first template (7F60) -> data block (5F2E/7F2E)."""
    _, value = tlv.parse_one(data, DG_TAGS[2])
    group = tlv.children(value).get(0x7F61)
    if group is None:
        raise MalformedData("DG2 has no biometric information group template")
    template = tlv.children(group).get(0x7F60)
    if template is None:
        raise MalformedData("DG2 has no biometric information template")
    kids = tlv.children(template)
    bdb = kids.get(0x5F2E, kids.get(0x7F2E))
    if bdb is None:
        raise MalformedData("DG2 has no biometric data block")
    return parse_face_record(bdb)


def parse_text_dg(data: bytes, number: int) -> dict[str, str]:
    """DG11/DG12 fields by tag (hex); personal data, never logged."""
    _, value = tlv.parse_one(data, DG_TAGS[number])
    return {f"{t:X}": v.decode("utf-8", "replace") for t, v in tlv.iter_tlv(value) if t != 0x5C}


def decode_oid(raw: bytes) -> str:
    if not raw:
        raise MalformedData("empty object identifier")
    arcs, n = [], 0
    for b in raw:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(n)
            n = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


@dataclass(frozen=True)
class SecurityInfo:
    oid: str
    elements: tuple[tuple[int, bytes], ...]   # the (tag, value) after the OID

    def integer(self, index: int) -> int | None:
        if index < len(self.elements) and self.elements[index][0] == 0x02:
            return int.from_bytes(self.elements[index][1], "big")
        return None


def parse_security_infos(data: bytes) -> list[SecurityInfo]:
    """SecurityInfos (EF.CardAccess, or DG14's content): a SET OF SEQUENCE {OID, ...}."""
    tag, value = tlv.parse_one(data)
    if tag == DG_TAGS[14]:
        tag, value = tlv.parse_one(value)
    if tag != 0x31:
        raise MalformedData("security infos are not a SET")
    out = []
    for t, seq in tlv.iter_tlv(value):
        if t != 0x30:
            raise MalformedData("security info is not a SEQUENCE")
        items = list(tlv.iter_tlv(seq))
        if not items or items[0][0] != 0x06:
            raise MalformedData("security info does not start with an OID")
        out.append(SecurityInfo(decode_oid(items[0][1]), tuple(items[1:])))
    return out


def full_tlv(info_value: bytes, tag: int) -> bytes:
    """Re-encode a (tag, value) pair, e.g. to hand a SubjectPublicKeyInfo to a DER loader."""
    return tlv.encode(tag, info_value)
