"""Disk images for flashing tests, made with the real tools: sfdisk for the table, mkfs.vfat for the boot
partition, scattered data in a second partition so the image is sparse with a real block map."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS = ("sfdisk", "mkfs.vfat", "mcopy")
needs_tools = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                 reason=f"needs {', '.join(TOOLS)} (apt: fdisk dosfstools mtools)")


def make_disk_image(path: Path, size_mib: int = 48, *, gpt: bool = False, seed: int = 7) -> Path:
    """A sparse disk image: 16 MiB FAT boot partition at 1 MiB, the rest a 'root' partition with a few
    data extents (about 8% of the image is mapped)."""
    with open(path, "wb") as f:
        f.truncate(size_mib << 20)
    if gpt:
        table = "label: gpt\nstart=2048, size=32768, type=uefi\nstart=34816, type=linux\n"
    else:
        table = "label: dos\nstart=2048, size=32768, type=c, bootable\nstart=34816, type=83\n"
    subprocess.run(["sfdisk", "-q", str(path)], input=table.encode(), check=True, capture_output=True)
    subprocess.run(["mkfs.vfat", "-F", "16", "-n", "BOOT", "--offset", "2048", str(path), "16384"],
                   check=True, capture_output=True)
    rnd = __import__("random").Random(seed)
    with open(path, "r+b") as f:
        for i in range(6):
            off = (18 << 20) + i * (5 << 20) + rnd.randrange(0, 1 << 20) // 4096 * 4096
            if off + (1 << 20) < size_mib << 20:
                f.seek(off)
                f.write(os.urandom(1 << 20 if i % 2 else 300_000))   # odd sizes: partial last blocks
    return path
