"""`borderpost provision` as a technician runs it: exit codes and messages."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from edge.cli import root
from tests.appliance.conftest import Agency, make_root, put_bundle


def _run(*args: str):
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def _new(agency: Agency, out: Path, *extra: str):
    return _run("provision", "new", "--post", "post-7", "--device", "booth-3", "--role", "booth",
                "--broker", "mqtts://broker.example:8883", "--agency-ca-cert", str(agency.ca_cert),
                "--agency-ca-key", str(agency.ca_key), "--base-config", str(agency.base_config),
                "--out", str(out), *extra)


def test_new_then_check(agency: Agency, tmp_path: Path) -> None:
    res = _new(agency, tmp_path / "b", "--json")
    assert res.exit_code == 0, res.output
    assert '"device": "booth-3"' in res.output
    res = _run("provision", "check", str(tmp_path / "b"))
    assert res.exit_code == 0 and "post-7/booth-3 (booth)" in res.output


def test_new_bad_input_exit_2(agency: Agency, tmp_path: Path) -> None:
    res = _new(agency, tmp_path / "b", "--broker", "http://x")
    assert res.exit_code == 2 and "broker.url" in res.output and "Traceback" not in res.output
    res = _new(agency, tmp_path / "c", "--client-key", str(agency.ca_key))
    assert res.exit_code == 2 and "only used with --csr" in res.output
    res = _run("provision", "new", "--post", "p", "--device", "d", "--broker", "mqtts://b", "--agency-ca-cert",
               str(agency.base_config), "--agency-ca-key", str(agency.ca_key), "--out", str(tmp_path / "d"))
    assert res.exit_code == 2 and "not a PEM X.509 certificate" in res.output


def test_check_refuses_tampered(bundle_dir: Path, tmp_path: Path) -> None:
    b = tmp_path / "b"
    shutil.copytree(bundle_dir, b)
    (b / "client.pem").write_text("x")
    res = _run("provision", "check", str(b))
    assert res.exit_code == 1 and "bundle refused" in res.output and "checksum mismatch" in res.output


def test_first_boot_command(bundle_dir: Path, tmp_path: Path) -> None:
    r = make_root(tmp_path)
    res = _run("provision", "first-boot", "--root", str(r))
    assert res.exit_code == 1 and "not provisioned" in res.output
    put_bundle(r, bundle_dir)
    res = _run("provision", "first-boot", "--root", str(r))
    assert res.exit_code == 0, res.output
    assert "provisioned post-7/kiosk-01" in res.output and "ssh host key ed25519: SHA256:" in res.output
    res = _run("provision", "first-boot", "--root", str(r))
    assert res.exit_code == 0 and "already provisioned" in res.output


def test_technician_keys_are_checked_and_shown(agency: Agency, tmp_path: Path) -> None:
    res = _new(agency, tmp_path / "b", "--technician-keys", str(agency.technician_keys))
    assert res.exit_code == 0, res.output
    res = _run("provision", "check", str(tmp_path / "b"))
    assert res.exit_code == 0 and "technicians' SSH keys (user borderpost-tech): SHA256:" in res.output
    assert "amina@agency" in res.output and "tech-laptop-7" in res.output
    bad = tmp_path / "bad.keys"
    bad.write_text(agency.technician_keys.read_text() + "ssh-rsa AAAA= broken\n")
    res = _new(agency, tmp_path / "c", "--technician-keys", str(bad))
    assert res.exit_code == 2 and f"--technician-keys {bad}: line 5:" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "c").exists()
    res = _new(agency, tmp_path / "d")
    assert res.exit_code == 0 and "none (no remote access)" in res.output
