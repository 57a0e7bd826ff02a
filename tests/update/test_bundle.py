"""`make bundle`'s script on a small GPT image, with the real rauc and mksquashfs: a verity bundle of the BPROOT
partition, signed, that `rauc info` (through edge.update.rauc) accepts with the image's keyring and refuses with
any other or once tampered with; `borderpost update` fails with one clear line and a meaning exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.update import rauc

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "image_build" / "rauc"
NEEDED = ["rauc", "mksquashfs", "sfdisk", "mkfs.ext4", "openssl"]

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in NEEDED),
                                reason=f"needs {', '.join(NEEDED)} (apt: rauc squashfs-tools fdisk e2fsprogs openssl)")


def small_image(tmp_path: Path) -> Path:
    """A GPT disk like the build's: BPBOOT (empty here) and BPROOT (ext4 with a few files)."""
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (tree / "usr").mkdir()
    (tree / "usr" / "data.bin").write_bytes(os.urandom(256 * 1024))
    subprocess.run(["mkfs.ext4", "-q", "-L", "BPROOT", "-d", str(tree), str(tmp_path / "root.ext4"), "16M"], check=True)
    img = tmp_path / "borderpost-amd64.img"
    with open(img, "wb") as f:
        f.truncate((1 + 4 + 16 + 1) * 1024 * 1024)
    subprocess.run(["sfdisk", "--quiet", str(img)], check=True, text=True,
                   input="label: gpt\nstart=1MiB, size=4MiB, type=uefi, name=BPBOOT\n"
                         "size=16MiB, type=linux, name=BPROOT\n")
    subprocess.run(["dd", f"if={tmp_path / 'root.ext4'}", f"of={img}", "bs=1M", "seek=5", "conv=notrunc",
                    "status=none"], check=True)
    return img


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    keys = tmp / "keys"
    subprocess.run([str(SCRIPTS / "dev-keys.sh"), str(keys)], check=True, capture_output=True)
    env = {**os.environ, "BORDERPOST_UPDATE_CERT": str(keys / "signing.cert.pem"),
           "BORDERPOST_UPDATE_KEY": str(keys / "signing.key.pem"),
           "BORDERPOST_UPDATE_KEYRING": str(keys / "ca.cert.pem"), "BORDERPOST_BUNDLE_VERSION": "9.9.9-test"}
    out = subprocess.run([str(SCRIPTS / "make-bundle.sh"), str(small_image(tmp)), str(tmp / "out")], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return tmp / "out" / "borderpost-amd64-9.9.9-test.raucb", keys, out.stdout


def test_the_bundle_is_signed_verity_with_compatible_and_version(built) -> None:
    bundle, keys, printed = built
    assert "bundle:" in printed and bundle.is_file()
    assert (bundle.parent / "borderpost-amd64.raucb").resolve() == bundle.resolve()
    manifest = rauc.info(bundle, keys / "ca.cert.pem")
    assert manifest["compatible"] == "borderpost-amd64" and manifest["version"] == "9.9.9-test"
    text = subprocess.run(["rauc", "info", f"--keyring={keys / 'ca.cert.pem'}", str(bundle)], capture_output=True,
                          text=True, check=True).stdout
    assert "Bundle Format: \tverity" in text       # only verity bundles are accepted by the devices (system.conf)
    images = manifest["images"]
    assert len(images) == 1 and images[0]["rootfs"]["filename"] == "rootfs.ext4"
    assert images[0]["rootfs"]["size"] == 16 * 1024 * 1024


def test_another_keyring_refuses_it(built, tmp_path: Path) -> None:
    bundle, _keys, _ = built
    subprocess.run([str(SCRIPTS / "dev-keys.sh"), str(tmp_path / "other")], check=True, capture_output=True)
    with pytest.raises(rauc.UpdateError) as err:
        rauc.info(bundle, tmp_path / "other" / "ca.cert.pem")
    assert err.value.exit_code == 2 and "\n" not in str(err.value)


def test_a_tampered_signature_is_refused(built, tmp_path: Path) -> None:
    bundle, keys, _ = built
    bad = tmp_path / "bad.raucb"
    data = bytearray(bundle.read_bytes())
    data[-200] ^= 0xFF                                   # inside the CMS signature at the bundle's end
    bad.write_bytes(bytes(data))
    with pytest.raises(rauc.UpdateError) as err:
        rauc.info(bad, keys / "ca.cert.pem")
    assert err.value.exit_code == 2


def test_cli_info_and_install_errors_are_one_line(built, tmp_path: Path) -> None:
    bundle, keys, _ = built
    run = [sys.executable, "-m", "edge", "update"]
    ok = subprocess.run([*run, "info", str(bundle), "--keyring", str(keys / "ca.cert.pem")], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and '"borderpost-amd64"' in ok.stdout
    missing = subprocess.run([*run, "install", str(tmp_path / "none.raucb")], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "no such bundle" in missing.stderr
    not_bundle = tmp_path / "x.raucb"
    not_bundle.write_bytes(b"not a bundle")
    r = subprocess.run([*run, "info", str(not_bundle), "--keyring", str(keys / "ca.cert.pem")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.startswith("borderpost: rauc:")
    # on this host there is no RAUC service (no /etc/rauc/system.conf): a clear failure, exit 1, no traceback
    here = subprocess.run([*run, "install", str(bundle)], capture_output=True, text=True)
    assert here.returncode in (1, 2) and "Traceback" not in here.stderr and "borderpost: rauc:" in here.stderr


def test_progress_lines_are_parsed() -> None:
    assert rauc.parse_progress(" 40% Copying image to rootfs.1") == rauc.Progress(40, "Copying image to rootfs.1")
    assert rauc.parse_progress("100% Installing done.") == rauc.Progress(100, "Installing done.")
    assert rauc.parse_progress("installing `/tmp/b.raucb`") is None
    assert rauc.parse_progress("400% nonsense") is None
    err = rauc.classify_error("installing\nLastError: Failed to check bundle signature: signature is invalid\n")
    assert err.exit_code == 2 and str(err) == "rauc: Failed to check bundle signature: signature is invalid"
    err = rauc.classify_error("LastError: Failed writing to slot rootfs.1: No space left on device\n")
    assert err.exit_code == 1


def test_status_summary_of_rauc_json() -> None:
    raw = {"compatible": "borderpost-amd64", "variant": "", "booted": "B", "boot_primary": "rootfs.1",
           "slots": [{"rootfs.0": {"class": "rootfs", "device": "/dev/disk/by-partlabel/BPROOT", "type": "ext4",
                                   "bootname": "A", "state": "inactive", "boot_status": "good"}},
                     {"rootfs.1": {"class": "rootfs", "device": "/dev/disk/by-partlabel/BPROOT_B", "type": "ext4",
                                   "bootname": "B", "state": "booted", "boot_status": "good",
                                   "slot_status": {"bundle": {"compatible": "borderpost-amd64", "version": "0.2"},
                                                   "installed": {"timestamp": "2026-12-01T03:00:00Z"},
                                                   "status": "ok"}}}]}
    s = rauc.summarize_status(raw)
    assert s["booted"] == "B" and s["boot_primary"] == "rootfs.1"
    assert [(x["name"], x["bootname"], x["boot_status"], x["version"]) for x in s["slots"]] == [
        ("rootfs.0", "A", "good", None), ("rootfs.1", "B", "good", "0.2")]
