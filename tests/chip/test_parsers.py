"""Parsers over chip bytes: anything malformed is MalformedData (a verdict), never another exception."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.chip import lds, passive, tlv
from edge.chip.access_key import mrz_key
from edge.chip.errors import MalformedData
from edge.chip.reader import extended_length_supported
from tests.chip.card import personalise
from tests.chip.card.ber import tlv as card_tlv
from tests.chip.card.oids import PACE_OID


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_tlv_never_raises_but_malformed(data):
    try:
        list(tlv.iter_tlv(data))
        tlv.parse_one(data)
    except MalformedData:
        pass


TAGS = [0x02, 0x04, 0x30, 0x31, 0x60, 0x61, 0x75, 0x87, 0x8E, 0x99, 0x5C, 0x5F1F, 0x5F2E, 0x7F2E, 0x7F49,
        0x7F60, 0x7F61]


@given(st.sampled_from(TAGS), st.binary(max_size=70000))
@settings(max_examples=50, deadline=None)
def test_tlv_reads_what_the_card_writes(tag, value):
    encoded = card_tlv(tag, value)
    assert tlv.parse_one(encoded) == (tag, value)
    assert tlv.header_size(encoded) == (len(encoded) - len(value), len(value))


PARSERS = [lds.parse_com, lds.parse_dg1, lds.parse_dg2, lds.parse_security_infos, passive.parse_sod,
           lambda b: lds.parse_text_dg(b, 11), lds.parse_face_record]


@pytest.mark.parametrize("parse", PARSERS)
@given(data=st.binary(max_size=400))
@settings(max_examples=150, deadline=None)
def test_parsers_on_random_bytes(parse, data):
    with contextlib.suppress(MalformedData):
        parse(data)


@given(st.data())
@settings(max_examples=100, deadline=None)
def test_dg2_parser_on_mutated_records(data):
    image = b"\xff\xd8" + bytes(200)
    dg2 = bytearray(personalise.dg2(image, "jpeg"))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(dg2) - 1))
        dg2[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(dg2)))
    with contextlib.suppress(MalformedData):
        lds.parse_dg2(bytes(dg2[:cut]))


def test_dg2_face_record_headers_are_skipped():
    jpeg = personalise.face_jpeg(4000)
    face = lds.parse_dg2(personalise.dg2(jpeg, "jpeg"))
    assert (face.format, face.data, face.width, face.height) == ("jpeg", jpeg, 240, 320)


def test_com_and_dg1():
    com = card_tlv(0x60, card_tlv(0x5F01, b"0107") + card_tlv(0x5F36, b"040000") + card_tlv(0x5C, b"\x61\x75\x6f"))
    assert lds.parse_com(com).data_groups == (1, 2, 15)
    mrz = personalise.td3()
    assert lds.parse_dg1(card_tlv(0x61, card_tlv(0x5F1F, mrz.replace("\n", "").encode()))) == mrz.replace("\n", "")
    with pytest.raises(MalformedData):
        lds.parse_dg1(card_tlv(0x61, card_tlv(0x5F1F, b"SHORT")))


def test_security_infos_of_card_access():
    infos = lds.parse_security_infos(card_tlv(0x31, personalise.pace_info()))
    assert infos[0].oid == PACE_OID
    assert (infos[0].integer(0), infos[0].integer(1)) == (2, 13)


def test_mrz_key_td3_td1_and_rejects():
    k = mrz_key(personalise.td3())
    assert k.information == personalise.mrz_information(personalise.td3())
    td1 = ("I<UTOD23145890<7349<<<<<<<<<<<\n3407127M9507122UTO<<<<<<<<<<<2\nSTEVENSON<<PETER<JOHN<<<<<<<<<")
    k1 = mrz_key(td1)
    assert k1.document_number == "D23145890734" and k1.information == "D23145890734934071279507122"
    for bad in ("", "hello", "P<UTO\nABC", "X" * 44 + "\n" + "Y" * 43):
        with pytest.raises(ValueError):
            mrz_key(bad)


def test_extended_length_from_atr():
    from tests.chip.card.__main__ import ATR_EXTENDED, ATR_SHORT, with_tck
    assert extended_length_supported(with_tck(ATR_EXTENDED)) is True
    assert extended_length_supported(with_tck(ATR_SHORT)) is False
    assert extended_length_supported(b"\x3b") is False
    assert extended_length_supported(bytes.fromhex("3B8F8001")) is False


def test_master_list_with_a_broken_signature_is_refused(pki):
    ml = bytearray(personalise.master_list([pki.csca], pki.ds_key, pki.ds))
    assert len(passive.parse_master_list(bytes(ml))) == 1
    i = bytes(ml).index(pki.csca.public_bytes(Encoding.DER)[-40:])
    ml[i] ^= 0x01
    with pytest.raises(MalformedData):
        passive.parse_master_list(bytes(ml))


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_secure_messaging_answers_from_a_hostile_chip(raw):
    """Whatever a chip answers, unwrapping ends in a ChipError verdict or data it authenticated."""
    from edge.chip.errors import ChipError
    from edge.chip.sm import SessionKeys, unwrap

    keys = SessionKeys("AES", bytes(16), bytes(range(16)), 0)
    with contextlib.suppress(ChipError):
        unwrap(keys, raw)


@given(st.binary(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_atr_gives_a_yes_or_no(atr):
    assert extended_length_supported(atr) in (True, False)
    assert extended_length_supported(bytes.fromhex("3B8580018073") + atr[:3]) in (True, False)


class _Chip:
    """A 'chip' that answers from a script of bytes (hostile or broken)."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)

    def transmit(self, apdu: bytes) -> bytes:
        if not self.answers:
            raise ConnectionError("gone")
        a = self.answers.pop(0)
        if a == b"boom":
            raise RuntimeError("a bug below the reader")
        return a


@given(st.lists(st.one_of(st.binary(max_size=60), st.just(b"\x90\x00"), st.just(b"\x6a\x82")), max_size=12))
@settings(max_examples=150, deadline=None)
def test_read_passport_against_a_random_chip(answers):
    from edge.chip.reader import read_passport

    r = read_passport(_Chip(answers), mrz_key(personalise.td3()))
    assert r.valid is False
    assert r.to_dict()["valid"] is False


def test_a_bug_below_is_an_internal_verdict():
    from edge.chip.reader import read_passport

    r = read_passport(_Chip([b"boom"]), mrz_key(personalise.td3()))
    assert r.error_kind == "internal" and "RuntimeError" in r.error and not r.valid


@pytest.mark.parametrize("fmt", ["jpeg", "jpeg2000"])
def test_face_decodes_to_bgr_both_formats(fmt):
    from edge.chip.face import decode_face

    data = personalise.face_jpeg(6000, fmt)
    face = lds.parse_dg2(personalise.dg2(data, fmt))
    img = decode_face(face)
    assert img.shape == (320, 240, 3) and img.dtype.name == "uint8"
    with pytest.raises(MalformedData):
        decode_face(face, max_pixels=1000)
    with pytest.raises(MalformedData):
        decode_face(lds.FaceImage(fmt, data[: len(data) // 3] + bytes(50), 240, 320)).sum()
