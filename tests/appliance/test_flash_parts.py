"""The flasher's parts: block map and checksum-list parsers (hypothesis), partition tables, target safety
rules on a fake sysfs, and read-back detection of a card that lies."""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.flash import bmap, fat, release, target, writer
from tests.appliance.diskimg import make_disk_image, needs_tools

# -- block maps ---------------------------------------------------------------------------------------------

_hex = st.text("0123456789abcdef", min_size=64, max_size=64)


@st.composite
def bmaps(draw) -> bmap.Bmap:
    block = draw(st.sampled_from([512, 4096, 65536]))
    gaps = draw(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 50)), max_size=8))
    ranges, pos = [], 0
    for gap, length in gaps:
        first = pos + gap
        ranges.append(bmap.Range(first, first + length - 1, draw(_hex)))
        pos = first + length
    blocks = pos + draw(st.integers(0, 10)) or 1
    size = blocks * block - draw(st.integers(0, block - 1))
    return bmap.Bmap(size, block, tuple(ranges))


@given(bmaps())
def test_bmap_round_trip(b: bmap.Bmap) -> None:
    assert bmap.parse(bmap.dumps(b)) == b


@settings(max_examples=150)
@given(bmaps(), st.data())
def test_damaged_bmap_gives_bmap_error_only(b: bmap.Bmap, data) -> None:
    text = bmap.dumps(b)
    cut = data.draw(st.integers(0, len(text) - 1))
    damaged = data.draw(st.sampled_from([text[:cut], text[:cut] + "x" + text[cut + 1:]]))
    if damaged == text:
        return
    with pytest.raises(bmap.BmapError):
        bmap.parse(damaged)


def _with_checksum(text: str) -> str:
    zero = text.replace("@SUM@", "0" * 64)
    return text.replace("@SUM@", hashlib.sha256(zero.encode()).hexdigest())


BMAPTOOL_STYLE = """<?xml version="1.0" ?>
<!-- This file contains the block map for an image file, which is basically
     a list of useful (mapped) block numbers in the image file. -->
<bmap version="2.0">
    <!-- Image size in bytes: 8.0 KiB -->
    <ImageSize> 8192 </ImageSize>
    <BlockSize> 4096 </BlockSize>
    <BlocksCount> 2 </BlocksCount>
    <!-- Count of mapped blocks: 4.0 KiB or 50.0% -->
    <MappedBlocksCount> 1 </MappedBlocksCount>
    <ChecksumType> sha256 </ChecksumType>
    <BmapFileChecksum> @SUM@ </BmapFileChecksum>
    <BlockMap>
        <Range chksum="@RANGE@"> 1 </Range>
    </BlockMap>
</bmap>
""".replace("@RANGE@", "ab" * 32)


def test_reads_bmaptool_layout_and_rejects_inconsistency() -> None:
    b = bmap.parse(_with_checksum(BMAPTOOL_STYLE))
    assert (b.image_size, b.block_size, b.mapped_blocks, b.ranges[0].first) == (8192, 4096, 1, 1)
    with pytest.raises(bmap.BmapError, match="says 2 mapped blocks"):
        bmap.parse(_with_checksum(BMAPTOOL_STYLE.replace("<MappedBlocksCount> 1", "<MappedBlocksCount> 2")))
    with pytest.raises(bmap.BmapError, match="beyond the image"):
        bmap.parse(_with_checksum(BMAPTOOL_STYLE.replace("> 1 </Range>", "> 1-2 </Range>")))
    with pytest.raises(bmap.BmapError, match=r"version '1\.4'"):
        bmap.parse(_with_checksum(BMAPTOOL_STYLE.replace('version="2.0"', 'version="1.4"')))
    with pytest.raises(bmap.BmapError, match="checksum mismatch"):
        bmap.parse(BMAPTOOL_STYLE.replace("@SUM@", "1" * 64))


def test_generate_maps_data_extents(tmp_path: Path) -> None:
    img = tmp_path / "s.img"
    with open(img, "wb") as f:
        f.truncate(10 << 20)
        f.seek(3 << 20)
        f.write(b"x" * 5000)            # spans two 4 KiB blocks
    b = bmap.generate(img)
    assert b.image_size == 10 << 20
    data_blocks = [r for r in b.ranges if r.first == (3 << 20) // 4096]
    assert data_blocks and data_blocks[0].last == data_blocks[0].first + 1
    off, length = b.byte_span(data_blocks[0])
    with open(img, "rb") as f:
        f.seek(off)
        assert hashlib.sha256(f.read(length)).hexdigest() == data_blocks[0].sha256


# -- checksum lists and signatures -------------------------------------------------------------------------

_names = st.text(st.characters(blacklist_characters="/\n\r", blacklist_categories=("Cs",)), min_size=1,
                 max_size=20).filter(lambda s: s not in (".", "..") and s == s.strip() and not s.startswith("#"))


@given(st.dictionaries(_names, _hex, min_size=1, max_size=5))
def test_sums_round_trip(d: dict[str, str]) -> None:
    assert release.parse_sums(release.format_sums(d)) == d


@given(st.text(max_size=200))
def test_sums_garbage_gives_release_error_only(text: str) -> None:
    with contextlib.suppress(release.ReleaseError):
        release.parse_sums(text)


def test_sums_rejects_paths_and_duplicates() -> None:
    h = "a" * 64
    with pytest.raises(release.ReleaseError, match="names a path"):
        release.parse_sums(f"{h}  ../etc/passwd\n")
    with pytest.raises(release.ReleaseError, match="listed twice"):
        release.parse_sums(f"{h}  x\n{h} *x\n")


def test_signature_accepts_base64_and_rejects_other_lengths() -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    sig = release.sign(b"body", key)
    release.verify_signature(b"body", base64.b64encode(sig) + b"\n", key.public_key())
    with pytest.raises(release.ReleaseError, match="not an Ed25519 signature"):
        release.verify_signature(b"body", sig[:40], key.public_key())
    with pytest.raises(release.ReleaseError, match="does not match"):
        release.verify_signature(b"bodx", sig, key.public_key())


# -- partition tables --------------------------------------------------------------------------------------

@given(st.binary(min_size=0, max_size=34 * 512))
def test_partition_parser_never_crashes(head: bytes) -> None:
    with contextlib.suppress(fat.PartitionError):
        fat.boot_partition(fat.parse_table(head))


@given(st.binary(min_size=446, max_size=446), st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1)), min_size=4, max_size=4))
def test_mbr_entries_decoded(prefix: bytes, entries) -> None:
    head = prefix + b"".join(struct.pack("<B3sB3sII", 0, b"\0" * 3, t, b"\0" * 3, lba, n) for t, lba, n in entries)
    head += b"\x55\xaa" + b"\0" * (33 * 512)
    try:
        parts = fat.parse_table(head)
    except fat.PartitionError:
        assert any(t == 0xEE for t, _, _ in entries)
        return
    assert [p.start for p in parts] == [lba * 512 for t, lba, n in entries if t and n]


@needs_tools
@pytest.mark.parametrize("gpt", [False, True])
def test_boot_partition_found_in_real_tables(tmp_path: Path, gpt: bool) -> None:
    img = make_disk_image(tmp_path / "d.img", 40, gpt=gpt)
    p = fat.find_boot_partition(img)
    assert (p.index, p.start, p.size) == (1, 1 << 20, 16 << 20)
    out = subprocess.run(["mdir", "-i", f"{img}@@{p.start}", "::/"], capture_output=True,
                         env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}, check=False)
    assert out.returncode == 0


# -- target safety -----------------------------------------------------------------------------------------

def _fake_sysfs(tmp_path: Path) -> Path:
    """sda (system disk: root on sda2), sdb (a card with sdb1), mmcblk0 with a dm holder."""
    sys = tmp_path / "sys"
    devs = {"sda": ("8:0", None), "sda1": ("8:1", "sda"), "sda2": ("8:2", "sda"),
            "sdb": ("8:16", None), "sdb1": ("8:17", "sdb"), "mmcblk0": ("179:0", None)}
    for name, (num, parent) in devs.items():
        node = sys / "devices/block" / (f"{parent}/{name}" if parent else name)
        node.mkdir(parents=True)
        (node / "dev").write_text(num + "\n")
        (node / "size").write_text("62521344\n")
        (node / "holders").mkdir()
        if parent:
            (node / "partition").write_text("1\n")
        (sys / "dev/block").mkdir(parents=True, exist_ok=True)
        (sys / "dev/block" / num).symlink_to(node)
    (sys / "devices/block/sdb/device").mkdir()
    (sys / "devices/block/sdb/device/model").write_text("SD Card Reader\n")
    (sys / "devices/block/mmcblk0/holders/dm-0").mkdir()
    return sys


MOUNTINFO = "22 1 8:2 / / rw - ext4 /dev/sda2 rw\n40 22 8:17 / /media/tech/boot rw - vfat /dev/sdb1 rw\n"


def _t(sys: Path, num: str, mountinfo: str = MOUNTINFO) -> target.Target:
    return target.inspect_block(num, sysfs=sys, mountinfo=mountinfo, swaps="Filename\n", system_devnums=["8:2"])


def test_target_rules(tmp_path: Path) -> None:
    sys = _fake_sysfs(tmp_path)
    with pytest.raises(target.TargetError, match="holds the running system"):
        target.check(_t(sys, "8:0"), 1000)
    with pytest.raises(target.TargetError, match=r"is mounted \(/media/tech/boot\)"):
        target.check(_t(sys, "8:16"), 1000)
    with pytest.raises(target.TargetError, match="is a partition"):
        target.check(_t(sys, "8:17"), 1000)
    with pytest.raises(target.TargetError, match="in use by dm-0"):
        target.check(_t(sys, "179:0"), 1000)
    card = _t(sys, "8:16", mountinfo="22 1 8:2 / / rw - ext4 /dev/sda2 rw\n")
    assert card.model == "SD Card Reader" and card.size == 62521344 * 512
    target.check(card, 1000)                                   # unmounted card: fine
    with pytest.raises(target.TargetError, match="smaller than the image"):
        target.check(card, card.size + 1)
    with pytest.raises(target.TargetError, match=r"mounted \(\[swap\]\)"):
        target.check(target.inspect_block("8:16", sysfs=sys, mountinfo="", swaps="Filename\n/dev/sdb1 partition\n",
                                          system_devnums=["8:2"]), 1)


def test_file_targets(tmp_path: Path) -> None:
    t = target.inspect(tmp_path / "new.img")
    assert not t.is_block and t.size is None
    with pytest.raises(target.TargetError, match="no such directory"):
        target.inspect(tmp_path / "missing" / "x.img")


# -- writing and read-back ---------------------------------------------------------------------------------

def test_read_back_catches_a_card_that_lies(tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    src.write_bytes(os.urandom(300_000))
    dst = tmp_path / "dst.img"
    s = writer.ImageSource(src)
    rep = writer.write(s, target.Target(dst, False, None), writer.extents_for(None), src.stat().st_size)
    s.close()
    writer.read_back(dst, rep.digests)
    with open(dst, "r+b") as f:                                  # the medium silently changed a byte
        f.seek(123_456)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    with pytest.raises(writer.WriteError, match="read-back differs"):
        writer.read_back(dst, rep.digests)


def test_image_not_matching_its_map(tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    src.write_bytes(os.urandom(64 * 1024))
    wrong = bmap.Bmap(64 * 1024, 4096, (bmap.Range(0, 3, "0" * 64),))
    s = writer.ImageSource(src)
    with pytest.raises(writer.ImageDataError, match="does not match its block map"):
        writer.write(s, target.Target(tmp_path / "d.img", False, None), writer.extents_for(wrong), 64 * 1024)
    short = bmap.Bmap(128 * 1024, 4096, (bmap.Range(20, 31, "0" * 64),))
    s = writer.ImageSource(src)
    with pytest.raises(writer.ImageDataError, match="do not belong together"):
        writer.write(s, target.Target(tmp_path / "e.img", False, None), writer.extents_for(short), 128 * 1024)
