"""First boot against a temporary root: install, idempotence, re-provisioning, power cuts between steps."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.provision.bundle import load_bundle
from edge.provision.firstboot import STEPS, FirstBootError, first_boot
from edge.provision.new import make_bundle
from tests.appliance.conftest import NOW, SERVICE_GID, SERVICE_UID, Agency, make_root, put_bundle


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def assert_provisioned(root: Path, device: str = "kiosk-01") -> None:
    """The complete, correct end state (what the station's unit relies on)."""
    etc = root / "etc/borderpost"
    marker = (etc / ".provisioned").read_text()
    assert f"device={device}" in marker
    for rel, mode, uid in [("config.toml", 0o640, 0), ("certs/ca.pem", 0o640, 0), ("certs/client.pem", 0o640, 0),
                           ("secrets/client.key", 0o600, SERVICE_UID),
                           ("secrets/broker.credentials", 0o600, SERVICE_UID),
                           ("ssh/ssh_host_ed25519_key", 0o600, 0), ("ssh/ssh_host_ecdsa_key", 0o600, 0),
                           ("authorized_keys/borderpost-tech", 0o644, 0)]:
        p = etc / rel
        assert _mode(p) == mode, rel
        assert p.stat().st_uid == uid, rel
    assert _mode(etc / "secrets") == 0o700 and (etc / "secrets").stat().st_uid == SERVICE_UID
    # sshd reads a user's keys as that user and refuses them if anyone but root or the user could write them
    assert _mode(etc / "authorized_keys") == 0o755 and (etc / "authorized_keys").stat().st_uid == 0
    assert (etc / "secrets/client.key").stat().st_gid == SERVICE_GID
    key = root / "var/lib/borderpost/device_ed25519.pem"
    assert _mode(key) == 0o600 and key.stat().st_uid == SERVICE_UID
    assert isinstance(serialization.load_pem_private_key(key.read_bytes(), None), Ed25519PrivateKey)
    assert device in (root / "etc/hostname").read_text()
    boot = root / "boot/firmware"
    assert not (boot / "borderpost").exists() and not (boot / "borderpost.remove").exists()
    assert "secrets were deleted" in (boot / "borderpost-provisioned.txt").read_text()
    assert not list(root.rglob(".*.partial"))


def test_first_boot_installs_everything(tmp_path: Path, bundle_dir: Path) -> None:
    root = make_root(tmp_path)
    put_bundle(root, bundle_dir)
    result = first_boot(root, now=NOW)
    assert result.action == "provisioned" and result.steps == list(STEPS)
    assert_provisioned(root)
    cfg = (root / "etc/borderpost/config.toml").read_bytes()
    assert cfg == (bundle_dir / "config.toml").read_bytes()
    assert result.ssh_fingerprints["ed25519"].startswith("SHA256:")
    pub = root / "etc/borderpost/ssh/ssh_host_ed25519_key.pub"
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=False)
    if out.returncode == 0:  # ssh-keygen agrees on the fingerprint where it is installed
        assert result.ssh_fingerprints["ed25519"] in out.stdout


def test_rerun_is_a_no_op_and_keeps_identity(tmp_path: Path, bundle_dir: Path) -> None:
    root = make_root(tmp_path)
    put_bundle(root, bundle_dir)
    first = first_boot(root, now=NOW)
    again = first_boot(root, now=NOW)
    assert again.action == "already-provisioned" and again.bundle_digest == first.bundle_digest
    assert_provisioned(root)


def test_reprovision_replaces_config_keeps_device_and_ssh_keys(tmp_path: Path, bundle_dir: Path,
                                                              agency: Agency) -> None:
    root = make_root(tmp_path)
    put_bundle(root, bundle_dir)
    first = first_boot(root, now=NOW)
    new = tmp_path / "b2"
    make_bundle(agency.spec(broker_url="mqtts://other.example:8883", credentials=None, technician_keys=None),
                new, NOW)
    put_bundle(root, new)
    second = first_boot(root, now=NOW)
    assert second.action == "provisioned" and second.bundle_digest != first.bundle_digest
    assert second.device_key_id == first.device_key_id
    assert second.ssh_fingerprints == first.ssh_fingerprints
    assert "other.example" in (root / "etc/borderpost/config.toml").read_text()
    assert not (root / "etc/borderpost/secrets/broker.credentials").exists()   # not in the new bundle
    assert not (root / "etc/borderpost/authorized_keys/borderpost-tech").exists()   # keys revoked with it


def test_bad_bundle_changes_nothing(tmp_path: Path, bundle_dir: Path) -> None:
    root = make_root(tmp_path)
    b = put_bundle(root, bundle_dir)
    (b / "ca.pem").write_text("garbage")
    with pytest.raises(FirstBootError, match=r"refused, nothing was changed: .*ca.pem: checksum mismatch"):
        first_boot(root, now=NOW)
    assert not (root / "etc/borderpost").exists()
    assert (b / "client.key").exists()                     # left for the technician to inspect or replace


def test_expired_bundle_refused_on_device(tmp_path: Path, bundle_dir: Path) -> None:
    import datetime as dt

    root = make_root(tmp_path)
    put_bundle(root, bundle_dir)
    with pytest.raises(FirstBootError, match="expired"):
        first_boot(root, now=NOW + dt.timedelta(days=1000))


def test_no_bundle_and_not_provisioned(tmp_path: Path) -> None:
    with pytest.raises(FirstBootError, match="not provisioned"):
        first_boot(make_root(tmp_path), now=NOW)


def test_missing_service_user(tmp_path: Path, bundle_dir: Path) -> None:
    root = make_root(tmp_path)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    put_bundle(root, bundle_dir)
    with pytest.raises(FirstBootError, match="service user 'borderpost'"):
        first_boot(root, now=NOW)


def test_readonly_root_hostname_symlink(tmp_path: Path, bundle_dir: Path) -> None:
    root = make_root(tmp_path)
    (root / "etc/hostname").symlink_to("borderpost/hostname")
    put_bundle(root, bundle_dir)
    first_boot(root, now=NOW)
    assert (root / "etc/hostname").is_symlink()
    assert (root / "etc/hostname").read_text() == "bp-post-7-kiosk-01\n"


def _killed_at(root: Path, step: str) -> int:
    """Run first boot in a child that is SIGKILLed right after `step`: a power cut between two steps."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            def cut(done: str) -> None:
                if done == step:
                    os.kill(os.getpid(), signal.SIGKILL)
            first_boot(root, now=NOW, on_step=cut)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.parametrize("step", STEPS)
def test_power_cut_after_each_step_is_resumed(tmp_path: Path, bundle_dir: Path, step: str) -> None:
    root = make_root(tmp_path)
    put_bundle(root, bundle_dir)
    status = _killed_at(root, step)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    marker = root / "etc/borderpost/.provisioned"
    digest = load_bundle(bundle_dir, NOW).digest
    # never half-provisioned: the marker appears only with everything in place
    if marker.exists():
        assert f"bundle={digest}" in marker.read_text()
        assert (root / "etc/borderpost/secrets/client.key").exists()
        assert (root / "var/lib/borderpost/device_ed25519.pem").exists()
    else:
        assert STEPS.index(step) < STEPS.index("mark")
    result = first_boot(root, now=NOW)
    assert result.bundle_digest == digest
    assert_provisioned(root)


def test_power_cut_during_cleanup_is_finished(tmp_path: Path, bundle_dir: Path) -> None:
    """The bundle was renamed for removal but its secrets not yet deleted: the next run deletes them."""
    root = make_root(tmp_path)
    put_bundle(root, bundle_dir)
    first_boot(root, now=NOW)
    leftover = root / "boot/firmware/borderpost.remove"
    leftover.mkdir()
    (leftover / "client.key").write_bytes(b"secret")
    assert first_boot(root, now=NOW).action == "already-provisioned"
    assert not leftover.exists()


def test_reprovision_cut_before_mark_keeps_station_down(tmp_path: Path, bundle_dir: Path, agency: Agency) -> None:
    root = make_root(tmp_path)
    put_bundle(root, bundle_dir)
    first_boot(root, now=NOW)
    new = tmp_path / "b2"
    make_bundle(agency.spec(device="kiosk-02"), new, NOW)
    put_bundle(root, new)
    _killed_at(root, "install")
    assert not (root / "etc/borderpost/.provisioned").exists()   # old marker gone: station stays down
    first_boot(root, now=NOW)
    assert_provisioned(root, device="kiosk-02")
