"""R30x serial backend: the device contract on the PTY simulator, misbehaviours, and the packet codec."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import registry
from drivers.backends import finger_r30x as r30x
from drivers.contract import CaptureResult, ErrorCode, Status
from drivers.sim import finger_r30x as sim_mod
from tests.drivers import golden_r30x as golden
from tests.drivers.contract import DeviceContractTests, Rig, wait_for_status


@pytest.fixture
def sim():
    s = sim_mod.start(r30x.Config(reply_timeout=0.5))
    yield s
    s.close()


@pytest.fixture
def dev(sim):
    d = r30x.R30xFingerprint(sim.config)
    d.open()
    yield d
    d.close()


@pytest.fixture
def rig(sim, dev):
    def check(result: CaptureResult) -> None:
        img = result.sample.data
        assert img.shape == (288, 256) and img.dtype == np.uint8
        assert img.std() > 20  # ridges, not a blank frame

    yield Rig(dev, present=sim.present, unplug=sim.unplug, replug=sim.replug, check_sample=check)


class TestR30xContract(DeviceContractTests):
    pass


def test_registry_finds_backend_and_simulator():
    assert registry.load_backend("finger_r30x") is r30x.R30xFingerprint
    s = registry.start_simulator("finger_r30x", r30x.Config())
    try:
        assert s.config.port != r30x.Config().port
    finally:
        s.close()


def test_image_arrives_intact(sim, dev):
    img = np.tile(np.arange(256, dtype=np.uint8), (288, 1))
    sim.present(img)
    r = dev.capture(2.0)
    assert r.ok
    assert np.array_equal(r.sample.data, (img >> 4) * 17)


@pytest.mark.parametrize("mode,error", [
    ("bad-checksum", ErrorCode.PROTOCOL_ERROR),
    ("garbage", ErrorCode.PROTOCOL_ERROR),
    ("stall", ErrorCode.TIMEOUT),
    ("partial-frame", ErrorCode.TIMEOUT),
    ("short-image", ErrorCode.PROTOCOL_ERROR),
    ("refuse-image", ErrorCode.PROTOCOL_ERROR),
])
def test_misbehaviour_is_an_error_and_the_device_recovers(sim, dev, mode, error):
    sim.present()
    sim.misbehave(mode)
    r = dev.capture(2.0)
    assert not r.ok and r.error is error, (r.error, r.detail)
    sim.finger_off()
    sim.present()
    again = dev.capture(2.0)
    assert again.ok, (again.error, again.detail)
    assert dev.status().status is Status.READY


def test_wrong_password_is_reported_as_disconnected_with_reason(sim):
    d = r30x.R30xFingerprint(sim.config.model_copy(update={"password": 1234}))
    d.open()
    try:
        rep = d.status()
        assert rep.status is Status.DISCONNECTED and "password" in rep.detail
    finally:
        d.close()


def test_missing_port_is_disconnected_not_a_crash(tmp_path):
    d = r30x.R30xFingerprint(r30x.Config(port=str(tmp_path / "nothing")))
    d.open()
    assert d.status().status is Status.DISCONNECTED
    assert d.capture(0.2).error is ErrorCode.DISCONNECTED
    d.close()


def test_finger_held_gives_successive_frames(sim, dev):
    sim.finger_on()
    wait_for_status(dev, Status.READY)
    assert all(dev.capture(1.0).ok for _ in range(3))


def test_config_rejects_unknown_keys():
    with pytest.raises(registry.ValidationError):
        registry.parse_settings("finger_r30x", {"port": "/dev/ttyS0", "speed": 1})


def test_r503_describes_itself():
    s = sim_mod.start(r30x.Config(), model="R503")
    d = r30x.R30xFingerprint(s.config)
    d.open()
    try:
        info = d.info()
        assert (info.model, info.serial, info.firmware) == ("R503", "SIM00042", "1.2")
        assert info.extra["library_size"] == 1000
    finally:
        d.close()
        s.close()


def test_r307_info_without_product_command(dev):
    info = dev.info()
    assert info.model == "R30x/ZFM" and info.extra["packet_size"] == 128


def test_discover_lists_only_usb_serial_bridges():
    found = r30x.R30xFingerprint.discover()
    assert isinstance(found, list)
    assert all(d.backend == "finger_r30x" and "port" in d.settings for d in found)


# ---- the codec ---------------------------------------------------------------------------------

def test_genimg_command_matches_the_datasheet_bytes():
    assert r30x.command(r30x.Cmd.GEN_IMG) == bytes.fromhex("EF01FFFFFFFF010003010005")


def test_sys_params_parse():
    data = bytes.fromhex("0000" "0009" "00c8" "0003" "ffffffff" "0002" "0006")
    p = r30x.SysParams.parse(data)
    assert (p.library_size, p.security_level, p.packet_size, p.baud) == (200, 3, 128, 57600)
    with pytest.raises(r30x.PacketError):
        r30x.SysParams.parse(data[:10])


@given(pid=st.sampled_from(list(r30x.Pid)), payload=st.binary(max_size=300),
       address=st.integers(0, 0xFFFFFFFF))
def test_encode_decode_roundtrip(pid, payload, address):
    raw = r30x.encode(pid, payload, address)
    got = r30x.decode(raw + b"\xef")
    assert got is not None
    packet, used = got
    assert used == len(raw) and packet == r30x.Packet(pid, payload, address)
    assert r30x.decode(raw[:-1]) is None  # incomplete: wait for more


@given(payload=st.binary(min_size=1, max_size=64), pos=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_any_corrupted_byte_is_detected(payload, pos, flip):
    raw = bytearray(r30x.encode(r30x.Pid.ACK, payload))
    i = pos % len(raw)
    raw[i] ^= flip
    if 2 <= i < 6:
        return  # the address is not covered by the checksum; the backend compares it separately
    try:
        got = r30x.decode(raw)
    except r30x.PacketError:
        return
    # a corrupted length can only make the packet look incomplete or shorter-and-still-wrong
    assert got is None


@given(st.binary(max_size=600))
def test_decoder_never_crashes_on_noise(data):
    try:
        r30x.decode(data)
    except r30x.PacketError as exc:
        assert exc.reason in {"bad-header", "bad-length", "bad-checksum", "bad-pid"}


@given(seed=st.integers(0, 2**32 - 1))
def test_image_pack_unpack_roundtrip(seed):
    data = np.random.default_rng(seed).integers(0, 256, 256 * 288 // 2, dtype=np.uint8).tobytes()
    img = r30x.unpack_image(data)
    assert img.shape == (288, 256)
    assert r30x.pack_image(img) == data


def test_unpack_rejects_wrong_size():
    with pytest.raises(r30x.PacketError):
        r30x.unpack_image(b"\x00" * 100)


# ---- the same contract on a real module: BORDERPOST_HW_FINGERPRINT=finger_r30x:/dev/ttyUSB0[:baud] ---------

_HW = os.environ.get("BORDERPOST_HW_FINGERPRINT", "")


@pytest.mark.hardware
@pytest.mark.skipif(not _HW.startswith("finger_r30x:"), reason="no R30x module attached")
class TestR30xHardware(DeviceContractTests):
    @pytest.fixture
    def rig(self):
        _, port, *baud = _HW.split(":")
        d = r30x.R30xFingerprint(r30x.Config(port=port, baudrate=int(baud[0]) if baud else 57600,
                                             reply_timeout=10.0))
        d.open()
        yield Rig(d, present=lambda: print("\n>>> place a finger on the module"), no_sample_possible=False,
                  capture_timeout=30.0)
        d.close()


# ---- golden bytes from the datasheets, on both sides --------------------------------------------

CMD_CODES = {"GenImg": (0x01, b""), "UpImage": (0x0A, b""), "ReadSysPara": (0x0F, b""),
             "VfyPwd(0)": (0x13, b"\0\0\0\0"), "ReadProdInfo": (0x3C, b"")}
ACK_CODES = {"ok": 0x00, "no finger": 0x02, "wrong password": 0x13}


@pytest.mark.parametrize("name", sorted(golden.COMMANDS))
def test_driver_writes_the_datasheet_command(name):
    code, params = CMD_CODES[name]
    assert r30x.command(code, params) == golden.COMMANDS[name]


@pytest.mark.parametrize("name", sorted(golden.COMMANDS))
def test_simulator_reads_the_datasheet_command(name):
    buf = bytearray(golden.COMMANDS[name])
    verdict, address, payload = sim_mod.next_command(buf)
    code, params = CMD_CODES[name]
    assert (verdict, address, payload) == ("ok", 0xFFFFFFFF, bytes([code]) + params) and not buf


@pytest.mark.parametrize("name", sorted(golden.ACKS))
def test_simulator_writes_the_datasheet_acknowledge(name):
    assert sim_mod.packet(sim_mod.PID_ACK, bytes([ACK_CODES[name]]), 0xFFFFFFFF) == golden.ACKS[name]


@pytest.mark.parametrize("name", sorted(golden.ACKS))
def test_driver_reads_the_datasheet_acknowledge(name):
    packet, used = r30x.decode(golden.ACKS[name])
    assert (packet.pid, packet.payload, used) == (r30x.Pid.ACK, bytes([ACK_CODES[name]]), 12)


def test_simulator_flags_a_command_with_a_bad_checksum():
    damaged = bytearray(golden.COMMANDS["GenImg"][:-1] + b"\x06")
    assert sim_mod.next_command(damaged)[0] == "bad"


def test_image_nibbles_agree_between_simulator_and_driver():
    img = np.arange(192 * 192, dtype=np.uint32).reshape(192, 192).astype(np.uint8)
    data = sim_mod.pack_nibbles(img)
    assert data[:2] == bytes([0x00, 0x00]) and data[8] == 0x11   # pixels 16 and 17 are grey 1: 0x11
    assert np.array_equal(r30x.unpack_image(data, 192, 192), (img >> 4) * 17)


def test_r503_images_are_192_square_as_the_module_says():
    s = sim_mod.start(r30x.Config(reply_timeout=0.5), model="R503")
    d = r30x.R30xFingerprint(s.config)
    d.open()
    try:
        assert d.info().extra["image"] == [192, 192]
        s.present()
        r = d.capture(3.0)
        assert r.ok, r.detail
        assert r.sample.data.shape == (192, 192)
    finally:
        d.close()
        s.close()


def test_r307_images_keep_the_datasheet_size(sim, dev):
    assert dev.info().extra["image"] == [256, 288]


@given(st.binary(max_size=300))
def test_simulator_reader_never_raises_on_noise(data):
    buf = bytearray(data)
    for _ in range(400):
        got = sim_mod.next_command(buf)
        if got is None:
            break
        if got[0] == "bad":
            del buf[:1]
    assert len(buf) <= len(data)


@given(st.integers(0, 0xFFFFFFFF), st.sampled_from([0x01, 0x02, 0x07, 0x08]), st.binary(max_size=64))
def test_simulator_packets_decode_in_the_driver(address, pid, payload):
    wire = sim_mod.packet(pid, payload, address)
    packet, used = r30x.decode(wire)
    assert (packet.pid, packet.payload, packet.address, used) == (pid, payload, address, len(wire))
