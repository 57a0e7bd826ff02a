"""`borderpost chip read` through pcscd and vsmartcard's virtual reader against the test passport."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chip.card.personalise import Spec, td3

REPO = Path(__file__).resolve().parents[2]


def chip_read(pcscd, tmp_path: Path, mrz: str, *cscas: Path, extra: tuple[str, ...] = ()) -> tuple[int, dict, str]:
    mrz_file = tmp_path / "mrz.txt"
    mrz_file.write_text(mrz + "\n")
    args = [sys.executable, "-m", "edge", "chip", "read", "--reader", pcscd.reader, "--mrz-file", str(mrz_file),
            "--json", *extra]
    for c in cscas:
        args += ["--csca", str(c)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert "Traceback" not in p.stderr, p.stderr
    out = json.loads(p.stdout) if p.stdout.strip() else {}
    return p.returncode, out, p.stderr


def test_bac_passport_reads_and_verifies(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False, chip_auth=False, active_auth=True)
    card = insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 0, (out, err)
    assert out["access"] == "BAC"
    assert out["data_groups"] == [1, 2, 15]
    assert out["dg1_mrz"] == spec.mrz.replace("\n", "") and out["mrz_match"] is True
    assert out["passive_auth"] == {**out["passive_auth"], "sod_signature": True, "csca_chain": True,
                                   "hashes": {"1": True, "2": True, "15": True}}
    assert out["face_image"]["format"] == "jpeg"
    image = (card.directory / "files" / "0102.bin").read_bytes()
    start = image.index(b"\xff\xd8")
    assert out["face_image"]["bytes"] == len(image) - start
    assert out["clone_check"] == "active_auth" and out["clone_check_passed"] is True
    assert out["valid"] is True
    assert card.events().count("bac-ok") == 1


def test_pace_short_le_passport_reads_and_verifies(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=True, chip_auth=True, short_le=True, face_format="jpeg2000")
    card = insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 0, (out, err)
    assert out["access"] == "PACE"
    assert out["data_groups"] == [1, 2, 14]
    assert out["face_image"]["format"] == "jpeg2000"
    assert out["clone_check"] == "chip_auth" and out["clone_check_passed"] is True
    assert "pace-ok" in card.events() and "ca-ok" in card.events()


def test_dg2_changed_after_signing_fails_hash_2(pcscd, insert_card, trust, tmp_path):
    spec = Spec(tamper="dg2_after_signing")
    insert_card(spec)
    code, out, _ = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 1
    assert out["passive_auth"]["hashes"]["2"] is False
    assert out["passive_auth"]["hashes"]["1"] is True
    assert out["passive_auth"]["sod_signature"] is True
    assert out["valid"] is False


def test_another_csca_breaks_the_chain(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False)
    insert_card(spec)
    code, out, _ = chip_read(pcscd, tmp_path, spec.mrz, trust["other"])
    assert code == 1
    assert out["passive_auth"]["csca_chain"] is False
    assert out["passive_auth"]["sod_signature"] is True
    assert out["valid"] is False


def test_master_list_as_trust_anchor(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False, chip_auth=False)
    insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["masterlist"])
    assert code == 0, (out, err)
    assert out["passive_auth"]["csca_chain"] is True
    assert out["clone_check"] == "not_supported"


def test_no_csca_means_chain_unknown_and_not_valid(pcscd, insert_card, tmp_path):
    spec = Spec(pace=False, chip_auth=False)
    insert_card(spec)
    code, out, _ = chip_read(pcscd, tmp_path, spec.mrz)
    assert code == 1
    assert out["passive_auth"]["csca_chain"] is None
    assert out["passive_auth"]["sod_signature"] is True
    assert out["valid"] is False


def test_wrong_birth_date_is_refused_once_bac(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False)
    card = insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, td3(birth="900102"), trust["csca"])
    assert code == 2
    assert out["error_kind"] == "access_denied" and out["valid"] is False
    assert "MRZ does not open this chip" in err
    assert card.events() == ["bac-fail"]          # one attempt, no retry storm


def test_wrong_birth_date_is_refused_once_pace(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=True)
    card = insert_card(spec)
    code, out, _ = chip_read(pcscd, tmp_path, td3(birth="900102"), trust["csca"])
    assert code == 2
    assert out["access"] is None and out["error_kind"] == "access_denied"
    assert card.events() == ["pace-fail"]


def test_card_pulled_mid_read(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False, pull_after=3000)
    insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 1
    assert out["error_kind"] == "card_removed" and out["valid"] is False, out["error"]
    assert "removed" in err


def test_malformed_sod(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False, tamper="sod_garbage")
    insert_card(spec)
    code, out, _ = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 1
    assert out["passive_auth"]["sod_signature"] is False
    assert not any(out["passive_auth"]["hashes"].values())
    assert any("SOD" in r for r in out["passive_auth"]["reasons"])
    assert out["valid"] is False


def test_malformed_dg2(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False, tamper="dg2_malformed")
    insert_card(spec)
    code, out, _ = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 1
    assert out["face_image"] is None
    assert any(p.startswith("DG2") for p in out["problems"])
    assert out["passive_auth"]["hashes"]["2"] is True      # signed as it is: the structure is what is wrong
    assert out["valid"] is False


def test_dg14_not_in_sod_fails_the_clone_check(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False, chip_auth=True, tamper="dg14_unsigned")
    insert_card(spec)
    code, out, _ = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 1
    assert out["clone_check"] == "chip_auth" and out["clone_check_passed"] is False


def test_readers_and_unknown_reader(pcscd, tmp_path):
    p = subprocess.run([sys.executable, "-m", "edge", "chip", "readers", "--json"], capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    assert p.returncode == 0 and pcscd.reader in json.loads(p.stdout)
    mrz = tmp_path / "mrz.txt"
    mrz.write_text(td3())
    p = subprocess.run([sys.executable, "-m", "edge", "chip", "read", "--reader", "No Such Reader", "--mrz-file",
                        str(mrz), "--json"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert p.returncode == 2 and "no reader named" in p.stderr and "Traceback" not in p.stderr


def test_bad_mrz_file_is_exit_2(tmp_path):
    f = tmp_path / "mrz.txt"
    f.write_text("hello world\n")
    p = subprocess.run([sys.executable, "-m", "edge", "chip", "read", "--mrz-file", str(f), "--json"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert p.returncode == 2 and "not an MRZ" in p.stderr and "Traceback" not in p.stderr


def test_pace_3des_on_nist_p256(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=True, chip_auth=False, pace_cipher="3DES", pace_param=12)
    card = insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 0, (out, err)
    assert out["access"] == "PACE" and "pace-ok" in card.events()


def test_pace_with_the_card_access_number(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=True, chip_auth=False, can="123456")
    card = insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"], extra=("--can", "123456"))
    assert code == 0, (out, err)
    assert out["access"] == "PACE" and out["mrz_match"] is True
    code, out, _ = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"], extra=("--can", "654321"))
    assert code == 2 and out["error_kind"] == "access_denied"
    assert card.events() == ["pace-ok", "pace-fail"]


def test_can_on_a_bac_only_chip_is_refused(pcscd, insert_card, trust, tmp_path):
    spec = Spec(pace=False, chip_auth=False)
    insert_card(spec)
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"], extra=("--can", "123456"))
    assert code == 2 and "offers no PACE" in err and out["valid"] is False


@pytest.mark.parametrize("pace,short_le", [(True, True), (False, False)])
def test_dg2_past_32k_is_read_with_odd_ins(pcscd, insert_card, trust, tmp_path, pace, short_le):
    spec = Spec(pace=pace, chip_auth=False, short_le=short_le, face_bytes=45_000)
    card = insert_card(spec)
    assert len((card.directory / "files" / "0102.bin").read_bytes()) > 0x8000
    code, out, err = chip_read(pcscd, tmp_path, spec.mrz, trust["csca"])
    assert code == 0, (out, err)
    assert out["passive_auth"]["hashes"]["2"] is True and out["face_image"]["bytes"] > 0x8000
