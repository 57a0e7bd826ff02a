"""The device contract, and the serial reader's own faults, against the pty simulator for every profile."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator

import pytest

from drivers.backends.mrz_serial import MrzSerial, MrzSerialConfig
from drivers.contract import CaptureResult, ErrorCode, Status
from drivers.mrz_framing import PROFILES
from drivers.sim.mrz_serial import MrzReaderSim, start
from edge.documents import parse_mrz
from edge.documents.synth import make_mrz
from tests.drivers.contract import DeviceContractTests, Rig, wait_for_status

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=sorted(PROFILES))
def sim(request: pytest.FixtureRequest) -> Iterator[MrzReaderSim]:
    s = start(MrzSerialConfig(port="/dev/borderpost/mrz0", profile=request.param))
    yield s
    s.close()


@pytest.fixture
def device(sim: MrzReaderSim) -> Iterator[MrzSerial]:
    d = MrzSerial(sim.config)
    d.open()
    yield d
    d.close()


@pytest.fixture
def rig(sim: MrzReaderSim, device: MrzSerial) -> Rig:
    rng = random.Random(7)
    presented: list[list[str]] = []

    def present() -> None:
        lines = make_mrz(rng.choice(["TD1", "TD2", "TD3", "MRVA", "MRVB"]), rng=rng)
        presented.append(lines)
        sim.present(lines)

    def check(result: CaptureResult) -> None:
        assert result.sample is not None
        assert result.sample.data == "\n".join(presented[-1]).encode()
        assert result.sample.meta["profile"] == sim.config.profile
        assert parse_mrz(result.sample.data.decode()).valid

    return Rig(device=device, present=present, unplug=sim.unplug, replug=sim.replug, check_sample=check)


class TestMrzSerialContract(DeviceContractTests):
    pass


def _ready(device: MrzSerial) -> None:
    wait_for_status(device, Status.READY, within=5.0)


def test_split_writes_are_reassembled(sim: MrzReaderSim, device: MrzSerial) -> None:
    _ready(device)
    lines = make_mrz("TD1", rng=random.Random(3), document_number="D23145890734")
    sim.present(lines, split=3)
    result = device.capture(timeout=5)
    assert result.ok and result.sample is not None
    assert parse_mrz(result.sample.data.decode()).document_number == "D23145890734"


def test_garbage_is_a_protocol_error_and_the_next_document_still_reads(sim: MrzReaderSim, device: MrzSerial) -> None:
    _ready(device)
    sim.write_raw(bytes(range(256)) * 4 + b"\r\n")
    result = device.capture(timeout=3)
    assert result.error is ErrorCode.PROTOCOL_ERROR
    while device.capture(timeout=0.3).error is ErrorCode.PROTOCOL_ERROR:
        pass
    lines = make_mrz("TD3", rng=random.Random(4))
    sim.present(lines)
    result = device.capture(timeout=3)
    assert result.ok and result.sample is not None and result.sample.data == "\n".join(lines).encode()


def test_line_noise_between_documents(sim: MrzReaderSim, device: MrzSerial) -> None:
    _ready(device)
    rng = random.Random(5)
    docs = [make_mrz("TD2", rng=rng) for _ in range(3)]
    got = []
    for lines in docs:
        sim.write_raw(b"~\x00\xff+\r")
        sim.present(lines, split=11)
    end = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < end:
        r = device.capture(timeout=0.5)
        if r.ok and r.sample is not None:
            got.append(r.sample.data.decode().split("\n"))
    assert got == docs


def test_repeated_read_is_reported_once(sim: MrzReaderSim, device: MrzSerial) -> None:
    _ready(device)
    lines = make_mrz("TD3", rng=random.Random(6))
    sim.present(lines)
    sim.present(lines)
    assert device.capture(timeout=3).ok
    assert device.capture(timeout=0.8).error is ErrorCode.NO_SAMPLE


def test_unplugged_mid_document_reports_and_recovers(sim: MrzReaderSim, device: MrzSerial) -> None:
    _ready(device)
    sim.present_partial(make_mrz("TD3", rng=random.Random(8)), fraction=0.6 / sim.profile.times)
    time.sleep(0.1)
    sim.unplug()
    result = device.capture(timeout=2)
    assert result.error is ErrorCode.DISCONNECTED
    sim.replug()
    _ready(device)
    lines = make_mrz("TD1", rng=random.Random(9))
    sim.present(lines)
    result = device.capture(timeout=3)
    assert result.ok and result.sample is not None and result.sample.data == "\n".join(lines).encode()


def test_busy_while_another_capture_runs(sim: MrzReaderSim, device: MrzSerial) -> None:
    import threading

    _ready(device)
    t = threading.Thread(target=device.capture, args=(1.0,))
    t.start()
    time.sleep(0.1)
    assert device.capture(timeout=0.1).error is ErrorCode.BUSY
    t.join()


def test_missing_port_is_disconnected_not_a_crash() -> None:
    d = MrzSerial(MrzSerialConfig(port="/nonexistent/borderpost-mrz", profile="cr"))
    d.open()
    try:
        wait_for_status(d, Status.DISCONNECTED, within=3)
        assert d.capture(timeout=0.2).error is ErrorCode.DISCONNECTED
    finally:
        d.close()


def test_config_rejects_unknown_profile() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        MrzSerialConfig(port="/dev/ttyUSB0", profile="morse")


def test_discover_never_raises() -> None:
    assert isinstance(MrzSerial.discover(), list)


# ---- the same contract on a real reader: BORDERPOST_HW_MRZ=<port>[:<profile>[:<baud>]] -----------------------
_HW = os.environ.get("BORDERPOST_HW_MRZ", "")


@pytest.mark.hardware
@pytest.mark.skipif(not _HW, reason="no MRZ reader attached (set BORDERPOST_HW_MRZ=/dev/serial/by-id/...:cr)")
class TestMrzSerialHardware(DeviceContractTests):
    @pytest.fixture
    def rig(self) -> Iterator[Rig]:
        port, *rest = _HW.split(":")
        profile = rest[0] if rest else "cr"
        d = MrzSerial(MrzSerialConfig(port=port, profile=profile, baudrate=int(rest[1]) if len(rest) > 1 else 9600))
        d.open()

        def check(result: CaptureResult) -> None:
            assert result.sample is not None and parse_mrz(result.sample.data.decode()).is_mrz

        yield Rig(d, present=lambda: print("\n>>> put a passport on the reader"), check_sample=check,
                  capture_timeout=30.0)
        d.close()
