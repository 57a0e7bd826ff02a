"""MRZ framing against golden byte streams: the decoder, the encoder and the simulator each agree with them."""

from __future__ import annotations

import pytest

from drivers.mrz_framing import PROFILES, FrameDecoder, encode
from drivers.sim.mrz_serial import WIRE, wire_bytes
from tests.drivers.golden_mrz import GOLDEN, INIT, TD3


def test_every_profile_has_a_golden_stream() -> None:
    assert set(GOLDEN) == set(PROFILES) == set(WIRE)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_decoder_reads_the_golden_bytes(name: str) -> None:
    decoder = FrameDecoder(PROFILES[name])
    texts = [d.text for d in decoder.feed(GOLDEN[name]) + decoder.idle()]
    assert texts == ["\n".join(TD3)] * PROFILES[name].repeats


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_decoder_reads_the_golden_bytes_one_at_a_time(name: str) -> None:
    decoder = FrameDecoder(PROFILES[name])
    out = []
    for b in GOLDEN[name]:
        out += decoder.feed(bytes([b]))
    out += decoder.idle()
    assert [d.text for d in out if d.text] == ["\n".join(TD3)] * PROFILES[name].repeats
    assert [d.garbage for d in out if d.garbage] == []


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_encoder_writes_the_golden_bytes(name: str) -> None:
    assert encode(PROFILES[name], list(TD3)) == GOLDEN[name]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_simulator_writes_the_golden_bytes(name: str) -> None:
    assert wire_bytes(WIRE[name], list(TD3)) == GOLDEN[name]


def test_init_handshake_matches_the_golden_pair() -> None:
    command, ack = INIT["init"]
    assert (PROFILES["init"].init, PROFILES["init"].init_ack) == (command, ack)
    assert (WIRE["init"].init, WIRE["init"].init_ack) == (command, ack)


def test_a_damaged_golden_stream_is_garbage_not_an_mrz() -> None:
    damaged = GOLDEN["cr"].replace(b"ERIKSSON", b"ERIKSSOn")
    decoder = FrameDecoder(PROFILES["cr"])
    out = decoder.feed(damaged) + decoder.idle()
    assert not [d for d in out if d.text]
    assert [d for d in out if d.garbage]
