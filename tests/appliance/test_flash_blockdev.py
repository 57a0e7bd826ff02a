"""Flashing real block devices: a loop device backed by a file, and the refusal of the running system's
own disk (inspected only: nothing here ever opens a real disk for writing)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.cli import root
from edge.flash import release, target
from tests.appliance.diskimg import make_disk_image, needs_tools


@contextlib.contextmanager
def loop_device(backing: Path) -> Iterator[Path]:
    if shutil.which("losetup") is None or os.geteuid() != 0:
        pytest.skip("needs losetup and root")
    out = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.skip(f"no loop devices here: {out.stderr.strip()}")
    dev = Path(out.stdout.strip())
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", str(dev)], check=False)


@needs_tools
def test_flash_to_a_loop_device(tmp_path: Path, bundle_dir: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pub = tmp_path / "release.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    rel = tmp_path / "rel"
    rel.mkdir()
    img = make_disk_image(rel / "bp.img", 40)
    release.make_release(img, key, compress=False)
    backing = tmp_path / "card.bin"
    with open(backing, "wb") as f:
        f.truncate(64 << 20)
    with loop_device(backing) as dev:
        t = target.inspect(dev)
        assert t.is_block and t.size == 64 << 20 and not t.is_partition
        args = ["flash", str(img), "--target", str(dev), "--key", str(pub), "--no-progress"]
        res = CliRunner().invoke(root, args, input="n\n")
        assert res.exit_code == 1 and "Erase" in res.output                   # the technician said no
        res = CliRunner().invoke(root, [*args, "--yes", "--provision", str(bundle_dir)])
        assert res.exit_code == 0, res.output
        assert "added to the boot partition" in res.output
        with open(dev, "rb") as f:
            head = f.read(img.stat().st_size)
    with open(img, "rb") as f:
        raw = f.read()
    assert hashlib.sha256(head[:1 << 20]).digest() == hashlib.sha256(raw[:1 << 20]).digest()   # table intact
    assert head[17 << 20:] == raw[17 << 20:]                                  # root partition data intact
    with loop_device(tmp_path / "rel" / "SHA256SUMS") as small:              # a "disk" far smaller than the image
        res = CliRunner().invoke(root, ["flash", str(img), "--target", str(small), "--key", str(pub), "--yes",
                                        "--no-progress"])
        assert res.exit_code == 2 and "smaller than the image" in res.output


def test_system_disk_refused() -> None:
    st = os.stat("/")
    devnum = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    uevent = Path(f"/sys/dev/block/{devnum}/uevent")
    if not uevent.exists():
        pytest.skip("the root filesystem is not on a block device here (overlay or tmpfs)")
    name = dict(line.split("=", 1) for line in uevent.read_text().splitlines() if "=" in line).get("DEVNAME")
    partition = Path(f"/sys/dev/block/{devnum}/partition").exists()
    disk_name = Path(f"/sys/dev/block/{devnum}").resolve().parent.name if partition else name
    dev = Path("/dev") / str(disk_name)
    if not dev.exists():
        pytest.skip(f"{dev} has no device node here")
    t = target.inspect(dev)
    with pytest.raises(target.TargetError, match=r"holds the running system|is mounted"):
        target.check(t, 1)
