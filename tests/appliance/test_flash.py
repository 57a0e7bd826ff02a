"""`borderpost flash` end to end on disk-image files made with sfdisk and mkfs.vfat."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.cli import root
from edge.flash import release
from tests.appliance.diskimg import make_disk_image, needs_tools

pytestmark = needs_tools


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ed25519PrivateKey, Path]:
    key = Ed25519PrivateKey.generate()
    pub = tmp_path_factory.mktemp("keys") / "release.pub.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pub


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, signing) -> Path:
    """A signed release directory: raw image (kept for comparison), .img.xz, .img.bmap, SHA256SUMS(.sig)."""
    d = tmp_path_factory.mktemp("release")
    img = make_disk_image(d / "borderpost.img")
    release.make_release(img, signing[0])
    return d


def _copy_release(released: Path, dest: Path) -> Path:
    shutil.copytree(released, dest)
    return dest


def flash(*args: str):
    return CliRunner().invoke(root, ["flash", *args, "--no-progress"], catch_exceptions=False)


def test_xz_with_bmap_writes_mapped_blocks_and_verifies(released: Path, signing, tmp_path: Path) -> None:
    target = tmp_path / "card.img"
    res = flash(str(released / "borderpost.img.xz"), "--target", str(target), "--key", str(signing[1]))
    assert res.exit_code == 0, res.output
    assert "% of the image, from its block map" in res.output and "done" in res.output
    assert _sha(target) == _sha(released / "borderpost.img")
    st = target.stat()
    assert st.st_blocks * 512 < st.st_size // 2          # unmapped blocks stayed holes


def test_provision_bundle_lands_in_boot_partition(released: Path, signing, tmp_path: Path,
                                                   bundle_dir: Path) -> None:
    target = tmp_path / "card.img"
    res = flash(str(released / "borderpost.img.xz"), "--target", str(target), "--key", str(signing[1]),
                "--provision", str(bundle_dir))
    assert res.exit_code == 0, res.output
    assert "bundle for post-7/kiosk-01 added" in res.output
    got = subprocess.run(["mcopy", "-n", "-i", f"{target}@@{1 << 20}", "::/borderpost/client.key", "-"],
                         capture_output=True, check=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    assert got.stdout == (bundle_dir / "client.key").read_bytes()
    # flashing again replaces the bundle rather than failing on the existing directory
    res = flash(str(released / "borderpost.img.xz"), "--target", str(target), "--key", str(signing[1]),
                "--provision", str(bundle_dir))
    assert res.exit_code == 0, res.output


def test_raw_image_without_bmap(released: Path, signing, tmp_path: Path) -> None:
    d = tmp_path / "rel"
    d.mkdir()
    shutil.copy(released / "borderpost.img", d / "borderpost.img")
    release.make_release(d / "borderpost.img", signing[0], compress=False)
    target = tmp_path / "card.img"
    res = flash(str(d / "borderpost.img"), "--target", str(target), "--key", str(signing[1]), "--no-bmap")
    assert res.exit_code == 0, res.output
    assert "from its block map" not in res.output
    assert _sha(target) == _sha(d / "borderpost.img")


def test_corrupted_image_refused(released: Path, signing, tmp_path: Path) -> None:
    d = _copy_release(released, tmp_path / "rel")
    xz = d / "borderpost.img.xz"
    data = bytearray(xz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    xz.write_bytes(bytes(data))
    res = flash(str(xz), "--target", str(tmp_path / "card.img"), "--key", str(signing[1]))
    assert res.exit_code == 2
    assert "checksum mismatch: the image is corrupted" in res.output and "nothing was written" in res.output
    assert not (tmp_path / "card.img").exists()


def test_wrong_signature_refused(released: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    res = flash(str(released / "borderpost.img.xz"), "--target", str(tmp_path / "c.img"), "--key", str(other))
    assert res.exit_code == 2 and "does not match SHA256SUMS" in res.output


def test_edited_checksum_list_refused(released: Path, signing, tmp_path: Path) -> None:
    d = _copy_release(released, tmp_path / "rel")
    sums = (d / "SHA256SUMS").read_text()
    (d / "SHA256SUMS").write_text(sums + f"{'0' * 64}  extra.bin\n")
    res = flash(str(d / "borderpost.img.xz"), "--target", str(tmp_path / "c.img"), "--key", str(signing[1]))
    assert res.exit_code == 2 and "does not match SHA256SUMS" in res.output


def test_truncated_bmap_refused(released: Path, signing, tmp_path: Path) -> None:
    d = _copy_release(released, tmp_path / "rel")
    bmap = d / "borderpost.img.bmap"
    bmap.write_bytes(bmap.read_bytes()[:-40])
    res = flash(str(d / "borderpost.img.xz"), "--target", str(tmp_path / "c.img"), "--key", str(signing[1]))
    assert res.exit_code == 2 and "block map is corrupted or truncated" in res.output
    # the same truncated map re-signed (a broken release pipeline): the map's own checks refuse it
    sums = release.parse_sums((d / "SHA256SUMS").read_text())
    sums[bmap.name] = release.file_sha256(bmap)
    body = release.format_sums(sums).encode()
    (d / "SHA256SUMS").write_bytes(body)
    (d / "SHA256SUMS.sig").write_bytes(release.sign(body, signing[0]))
    res = flash(str(d / "borderpost.img.xz"), "--target", str(tmp_path / "c.img"), "--key", str(signing[1]))
    assert res.exit_code == 2 and "block map is truncated or not XML" in res.output
    assert not (tmp_path / "c.img").exists()


def test_target_smaller_than_image_refused(released: Path, signing, tmp_path: Path) -> None:
    small = tmp_path / "small.img"
    small.write_bytes(b"\0" * (1 << 20))
    res = flash(str(released / "borderpost.img.xz"), "--target", str(small), "--key", str(signing[1]))
    assert res.exit_code == 2 and "smaller than the image" in res.output
    assert small.read_bytes() == b"\0" * (1 << 20)


def test_refusals_before_writing(released: Path, signing, tmp_path: Path, bundle_dir: Path) -> None:
    img = released / "borderpost.img.xz"
    res = flash(str(img), "--target", str(img), "--key", str(signing[1]))
    assert res.exit_code == 2 and "is the image itself" in res.output
    res = CliRunner(env={"BORDERPOST_IMAGE_KEY": ""}).invoke(
        root, ["flash", str(img), "--target", str(tmp_path / "c.img")])
    assert res.exit_code == 2 and "no release signing key" in res.output
    bad = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bad)
    (bad / "client.key").write_text("x")
    res = flash(str(img), "--target", str(tmp_path / "c.img"), "--key", str(signing[1]), "--provision", str(bad))
    assert res.exit_code == 2 and "bundle is refused" in res.output
    res = flash(str(img), "--target", "/dev/null", "--key", str(signing[1]))
    assert res.exit_code == 2 and "not a disk or a regular file" in res.output
    d = _copy_release(released, tmp_path / "nosig")
    (d / "SHA256SUMS.sig").unlink()
    res = flash(str(d / "borderpost.img.xz"), "--target", str(tmp_path / "c.img"), "--key", str(signing[1]))
    assert res.exit_code == 2 and "SHA256SUMS.sig not found" in res.output
    assert not (tmp_path / "c.img").exists()


def test_sign_release_script_output_flashes(tmp_path: Path) -> None:
    """image_build's release script, as the build runs it, produces what `flash` accepts."""
    import sys

    key = Ed25519PrivateKey.generate()
    (tmp_path / "release.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    img = make_disk_image(tmp_path / "bp.img", 40)
    script = Path(__file__).resolve().parents[2] / "image_build/scripts/sign_release.py"
    out = subprocess.run([sys.executable, str(script), str(img), "--key", str(tmp_path / "release.pem"),
                          "--out", str(tmp_path / "rel")], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "rel").iterdir()) == \
        ["SHA256SUMS", "SHA256SUMS.sig", "bp.img.bmap", "bp.img.xz"]
    pub = subprocess.run([sys.executable, str(script), str(img), "--key", str(tmp_path / "release.pem"),
                          "--print-public"], capture_output=True, check=True).stdout
    (tmp_path / "release.pub").write_bytes(pub)
    res = flash(str(tmp_path / "rel/bp.img.xz"), "--target", str(tmp_path / "card.img"),
                "--key", str(tmp_path / "release.pub"))
    assert res.exit_code == 0, res.output
    assert _sha(tmp_path / "card.img") == _sha(img)
    bad = subprocess.run([sys.executable, str(script), str(img), "--key", str(tmp_path / "release.pub")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_xz_without_bmap_writes_every_block(released: Path, signing, tmp_path: Path) -> None:
    target = tmp_path / "card.img"
    res = flash(str(released / "borderpost.img.xz"), "--target", str(target), "--key", str(signing[1]),
                "--no-bmap")
    assert res.exit_code == 0, res.output
    assert "wrote and verified 48 MiB" in res.output
    assert _sha(target) == _sha(released / "borderpost.img")
