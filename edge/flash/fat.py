"""Put the provisioning bundle into the image's FAT boot partition, without mounting anything.

The partition is found by reading the partition table ourselves (MBR, or GPT behind a protective MBR), and
files are written with mtools (`mcopy -i DISK@@OFFSET`). Why mtools rather than pyfatfs: mtools is a
decades-old Debian package that handles FAT12/16/32 with long names on a file or a raw device at an offset,
needs no root and no mount; pyfatfs sits on PyFilesystem2, which is no longer maintained. Each file is read
back with mtools and compared.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512
FAT_MBR_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E, 0xEF}
GPT_FAT_TYPES = {
    uuid.UUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"),   # Microsoft basic data
    uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),   # EFI system partition
}


class PartitionError(Exception):
    """No usable boot partition in the written image."""


class FatWriteError(Exception):
    """mtools could not write or read back the bundle."""


@dataclass(frozen=True)
class Partition:
    index: int
    start: int          # bytes
    size: int           # bytes
    kind: str           # MBR type as hex, or GPT type GUID


def parse_table(head: bytes) -> list[Partition]:
    """Partitions from the first sectors of a disk (MBR at 0; GPT header at LBA 1, entries from LBA 2).
    `head` must hold at least the MBR; for GPT, enough sectors for the entries (34 sectors is plenty)."""
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        raise PartitionError("no partition table (the image's first sector has no MBR signature)")
    entries = [struct.unpack_from("<B3sB3sII", head, 446 + 16 * i) for i in range(4)]
    if any(e[2] == 0xEE for e in entries):
        return _parse_gpt(head)
    parts = []
    for i, (_, _, ptype, _, lba, count) in enumerate(entries, 1):
        if ptype and count:
            parts.append(Partition(i, lba * SECTOR, count * SECTOR, f"0x{ptype:02x}"))
    return parts


def _parse_gpt(head: bytes) -> list[Partition]:
    hdr = head[SECTOR:2 * SECTOR]
    if len(hdr) < 92 or hdr[:8] != b"EFI PART":
        raise PartitionError("protective MBR but no GPT header")
    entries_lba, count, size = struct.unpack_from("<QII", hdr, 72)
    if size < 128 or count > 1024:
        raise PartitionError("GPT header is corrupt")
    parts = []
    for i in range(count):
        off = entries_lba * SECTOR + i * size
        if off + 128 > len(head):
            break
        type_guid = uuid.UUID(bytes_le=head[off:off + 16])
        if type_guid.int == 0:
            continue
        first, last = struct.unpack_from("<QQ", head, off + 32)
        if last >= first:
            parts.append(Partition(i + 1, first * SECTOR, (last - first + 1) * SECTOR, str(type_guid).upper()))
    return parts


def boot_partition(parts: list[Partition]) -> Partition:
    for p in parts:
        if p.kind.startswith("0x") and int(p.kind, 16) in FAT_MBR_TYPES:
            return p
        if not p.kind.startswith("0x") and uuid.UUID(p.kind) in GPT_FAT_TYPES:
            return p
    raise PartitionError("the image has no FAT boot partition to put the bundle in")


def find_boot_partition(disk: Path) -> Partition:
    with open(disk, "rb") as f:
        head = f.read(34 * SECTOR)
    return boot_partition(parse_table(head))


def _mtools(*args: str, stdout: bool = False) -> bytes:
    if shutil.which(args[0]) is None:
        raise FatWriteError(f"{args[0]} not found: install mtools (`apt install mtools`)")
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0"}
    proc = subprocess.run(list(args), capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise FatWriteError(f"{args[0]} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout if stdout else b""


def write_bundle(disk: Path, bundle: Path, dest: str = "borderpost") -> list[str]:
    """Copy every file of `bundle` into `/<dest>/` of the disk's boot partition, replacing an older bundle,
    then read each back and compare. Returns the names written."""
    part = find_boot_partition(disk)
    image = f"{disk}@@{part.start}"
    # provision.toml goes last: a copy cut short leaves no manifest, so first boot does not even start on it
    files = sorted((p for p in bundle.iterdir() if p.is_file()), key=lambda p: (p.name == "provision.toml", p.name))
    if not files:
        raise FatWriteError(f"{bundle}: no files to copy")
    listing = _mtools("mdir", "-b", "-i", image, "::/", stdout=True).decode(errors="replace")
    if any(line.rstrip("/").upper() == f"::/{dest}".upper() for line in listing.splitlines()):
        _mtools("mdeltree", "-i", image, f"::/{dest}")
    _mtools("mmd", "-i", image, f"::/{dest}")
    for f in files:
        _mtools("mcopy", "-o", "-i", image, str(f), f"::/{dest}/{f.name}")
    for f in files:
        back = _mtools("mcopy", "-n", "-i", image, f"::/{dest}/{f.name}", "-", stdout=True)
        if back != f.read_bytes():
            raise FatWriteError(f"read-back of {dest}/{f.name} from the boot partition differs")
    os.sync()
    return [f.name for f in files]
