"""The lane's chip step, its checks, and the PC/SC backend's states, against the virtual reader."""

from __future__ import annotations

import io

from PIL import Image

from drivers.backends.chip_pcsc import ChipPcscConfig, PcscChipReader
from drivers.contract import DeviceKind, ErrorCode, Status
from edge.chip.check import ChipAuthentication, check_from_config, chip_checks
from edge.chip.step import load_csca_store, read_chip
from edge.lane.checks import Context, build_checks
from tests.chip.card.personalise import Spec, td3


def _device(pcscd) -> PcscChipReader:
    d = PcscChipReader(ChipPcscConfig(reader=pcscd.reader))
    d.open()
    return d


def test_device_states_follow_the_card(pcscd, insert_card):
    d = _device(pcscd)
    try:
        assert d.kind is DeviceKind.CHIP
        assert (d.status().status, d.status().detail) == (Status.READY, "no card in the field")
        miss = d.capture(timeout=0.3)
        assert miss.error is ErrorCode.NO_SAMPLE
        card = insert_card(Spec(pace=False, chip_auth=False))
        assert (d.status().status, d.status().detail) == (Status.READY, "card in the field")
        got = d.capture(timeout=2)
        assert got.ok and got.sample.data[:1] == b"\x3b" and got.sample.meta["reader"] == pcscd.reader
        card.remove()
        assert d.status().detail == "no card in the field"
    finally:
        d.close()


def test_unknown_reader_is_disconnected_not_an_exception(pcscd):
    d = PcscChipReader(ChipPcscConfig(reader="No Such Reader"))
    d.open()
    assert d.status().status is Status.DISCONNECTED
    assert d.capture(timeout=0.2).error is ErrorCode.DISCONNECTED
    d.close()
    d.close()
    assert any(x.settings["reader"] == pcscd.reader for x in PcscChipReader.discover())


def test_read_chip_gives_the_face_and_progress(pcscd, insert_card, trust):
    spec = Spec(pace=True, chip_auth=True, face_format="jpeg2000")
    insert_card(spec)
    stages: list[str] = []
    d = _device(pcscd)
    try:
        result = read_chip(d, spec.mrz, load_csca_store([trust["csca"]]), lambda s, done, total: stages.append(s))
    finally:
        d.close()
    assert result.valid, result.to_dict()
    img = Image.open(io.BytesIO(result.face_bytes))
    img.load()
    assert img.size == (240, 320) and result.face.format == "jpeg2000"
    assert stages[0] == "access" and "DG2" in stages and stages[-1] == "verify"
    verdict = ChipAuthentication().run(Context(chip=result))
    assert verdict.outcome == "pass" and verdict.detail["access"] == "PACE"
    assert [v.run(Context(chip=result)).outcome for v in chip_checks()] == ["pass"] * 4


def test_checks_fail_on_a_tampered_chip_and_a_refusal(pcscd, insert_card, trust):
    spec = Spec(pace=False, chip_auth=False, tamper="dg2_after_signing")
    insert_card(spec)
    d = _device(pcscd)
    store = load_csca_store([trust["csca"]])
    try:
        tampered = read_chip(d, spec.mrz, store)
        refused = read_chip(d, td3(expiry="340102"), store)
    finally:
        d.close()
    v = ChipAuthentication().run(Context(chip=tampered))
    assert v.outcome == "fail" and v.message == "result.see_officer"
    assert v.reason_codes == ["chip.dg_hash", "chip.clone_not_supported"]
    v = ChipAuthentication().run(Context(chip=refused))
    assert v.outcome == "fail" and "chip.access_denied" in v.reason_codes
    assert ChipAuthentication().run(Context()).outcome == "not_run"


def test_no_card_is_a_verdict(pcscd):
    d = _device(pcscd)
    try:
        r = read_chip(d, td3(), None, wait_s=0.2)
    finally:
        d.close()
    assert r.error_kind == "no_card" and not r.valid
    assert ChipAuthentication().run(Context(chip=r)).reason_codes == ["chip.unreadable"]


def test_the_lane_finds_the_chip_check():
    assert check_from_config(None).id == "chip.authentication"
    checks = build_checks(None, ["chip.authentication"])
    assert [c.id for c in checks] == ["chip.authentication"]


def test_in_process_chip_for_the_kiosk(tmp_path):
    from tests.chip.card.inprocess import SimulatedChip, issue_for, trust_store
    from tests.chip.card.personalise import face_jpeg

    face = face_jpeg(8000)
    mrz = td3(number="K1234567")
    chip = SimulatedChip(issue_for(tmp_path / "card", mrz, face))
    result = read_chip(chip, mrz, trust_store())
    assert result.valid and result.face_bytes == face and result.access == "PACE"
    assert read_chip(SimulatedChip(None), mrz, trust_store()).error_kind == "no_card"


def test_active_authentication_with_an_ec_key(tmp_path):
    from tests.chip.card.inprocess import SimulatedChip, issue_for, trust_store

    mrz = td3(number="E7777777")
    chip = SimulatedChip(issue_for(tmp_path / "card", mrz, pace=False, chip_auth=False, active_auth=True,
                                   active_auth_ecdsa=True))
    result = read_chip(chip, mrz, trust_store())
    assert result.data_groups == [1, 2, 14, 15]
    assert (result.clone.method, result.clone.passed) == ("active_auth", True), result.clone
    assert result.valid


def test_a_clone_fails_chip_and_active_authentication(tmp_path):
    from tests.chip.card.inprocess import SimulatedChip, issue_for, trust_store

    mrz = td3(number="X1111111")
    for n, kind in enumerate(({"chip_auth": True}, {"pace": False, "chip_auth": False, "active_auth": True},
                              {"pace": False, "chip_auth": False, "active_auth": True, "active_auth_ecdsa": True})):
        chip = SimulatedChip(issue_for(tmp_path / f"card{n}", mrz, tamper="clone", **kind))
        result = read_chip(chip, mrz, trust_store())
        assert result.passive.ok and result.mrz_match      # every signed file is genuine...
        assert result.clone.passed is False, (kind, result.clone)   # ...but the chip is not
        assert not result.valid
        assert ChipAuthentication().run(Context(chip=result)).reason_codes == ["chip.clone"]


def test_dg11_and_dg12_are_read_and_hashed(tmp_path):
    from edge.chip import lds
    from tests.chip.card.inprocess import SimulatedChip, issue_for, trust_store

    mrz = td3(number="D1111111")
    result = read_chip(SimulatedChip(issue_for(tmp_path / "card", mrz, pace=False, chip_auth=False,
                                               dg11_dg12=True)), mrz, trust_store())
    assert result.data_groups == [1, 2, 11, 12] and result.valid
    assert result.passive.hashes == {1: True, 2: True, 11: True, 12: True}
    assert lds.parse_text_dg(result.files[11], 11)["5F0E"] == "TRAVELLER<<TEST<CHIP"
    assert lds.parse_text_dg(result.files[12], 12)["5F19"] == "UTOPIA"
