"""Is it safe to write here? Refuse partitions, mounted or busy disks, the system disk, and disks too small.

Inspection reads /sys and /proc/self/mountinfo; both roots are parameters so the rules are tested on a fake
tree. A regular file is a valid target (a VM disk, a test image): a new or empty one is created sparse; an
existing non-empty one is treated like a disk of its current size.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path


class TargetError(Exception):
    """The target must not be written; nothing was changed."""


@dataclass
class Target:
    path: Path
    is_block: bool
    size: int | None                 # None: a new file, grows to the image size
    name: str = ""                   # kernel name (sdb, mmcblk0) for block devices
    model: str = ""
    mounted: list[str] = field(default_factory=list)    # mount points on the disk or its partitions
    holders: list[str] = field(default_factory=list)    # device-mapper/md devices built on it
    is_partition: bool = False
    is_system: bool = False

    def describe(self) -> str:
        if not self.is_block:
            return f"file {self.path}"
        gb = f"{self.size / 1e9:.1f} GB" if self.size else "unknown size"
        return f"{self.path} ({self.model or self.name}, {gb})"


def _read(p: Path) -> str:
    try:
        return p.read_text().strip()
    except OSError:
        return ""


def _mounts(mountinfo: str) -> dict[str, list[str]]:
    """major:minor → mount points (mountinfo field 3 is the device number, field 5 the mount point)."""
    out: dict[str, list[str]] = {}
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) >= 5:
            out.setdefault(parts[2], []).append(parts[4].replace("\\040", " "))
    return out


def _swaps(swaps: str) -> set[str]:
    return {line.split()[0] for line in swaps.splitlines()[1:] if line.strip()}


def _disk_of(devnum: str, sysfs: Path) -> str | None:
    """Kernel name of the whole disk holding block device major:minor (itself if it is a disk)."""
    link = sysfs / "dev/block" / devnum
    try:
        real = link.resolve(strict=True)
    except OSError:
        return None
    return real.parent.name if (real / "partition").exists() else real.name


def inspect_block(devnum: str, *, sysfs: Path = Path("/sys"), mountinfo: str | None = None,
                  swaps: str | None = None, system_devnums: list[str] | None = None) -> Target:
    """Describe the block device `major:minor` from sysfs, with mounts and system-disk membership."""
    link = sysfs / "dev/block" / devnum
    try:
        real = link.resolve(strict=True)
    except OSError:
        raise TargetError(f"block device {devnum} is not in {sysfs}") from None
    mountinfo = _read(Path("/proc/self/mountinfo")) if mountinfo is None else mountinfo
    swaps = _read(Path("/proc/swaps")) if swaps is None else swaps
    if system_devnums is None:
        system_devnums = [_devnum(os.stat(p).st_dev) for p in ("/", "/boot", "/boot/firmware", "/usr")
                          if os.path.exists(p)]
    t = Target(path=Path("/dev") / real.name, is_block=True, size=None, name=real.name)
    t.is_partition = (real / "partition").exists()
    sectors = _read(real / "size")
    t.size = int(sectors) * 512 if sectors.isdigit() else None
    t.model = " ".join(filter(None, (_read(real / "device/vendor"), _read(real / "device/model"))))
    mounts = _mounts(mountinfo)
    swapping = _swaps(swaps)
    nodes = [real, *(c for c in real.iterdir() if (c / "partition").exists())] if real.is_dir() else [real]
    for node in nodes:
        num = _read(node / "dev")
        t.mounted += mounts.get(num, [])
        if f"/dev/{node.name}" in swapping:
            t.mounted.append("[swap]")
        holders = node / "holders"
        if holders.is_dir():
            t.holders += sorted(h.name for h in holders.iterdir())
    system_disks = {_disk_of(d, sysfs) for d in system_devnums}
    t.is_system = real.name in system_disks
    return t


def _devnum(dev: int) -> str:
    return f"{os.major(dev)}:{os.minor(dev)}"


def inspect(path: Path, image: Path | None = None) -> Target:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise TargetError(f"{path}: no such directory {path.parent}") from None
        return Target(path=path, is_block=False, size=None)
    if stat.S_ISBLK(st.st_mode):
        t = inspect_block(_devnum(st.st_rdev))
        t.path = path
        return t
    if stat.S_ISREG(st.st_mode):
        if image is not None and image.exists() and os.path.samefile(path, image):
            raise TargetError(f"{path}: is the image itself")
        return Target(path=path, is_block=False, size=st.st_size or None)
    raise TargetError(f"{path}: not a disk or a regular file")


def check(t: Target, image_size: int | None) -> None:
    """Raise TargetError with the reason a technician needs; return if writing is safe."""
    if t.is_partition:
        raise TargetError(f"{t.path} is a partition; give the whole disk (e.g. /dev/sdb, /dev/mmcblk0)")
    if t.is_system:
        raise TargetError(f"{t.path} holds the running system: refusing to overwrite it")
    if t.mounted:
        raise TargetError(f"{t.path} is mounted ({', '.join(t.mounted)}); unmount it first "
                          f"(e.g. `udisksctl unmount -b` each partition)")
    if t.holders:
        raise TargetError(f"{t.path} is in use by {', '.join(t.holders)} (LVM, RAID or encryption)")
    if image_size is not None and t.size is not None and t.size < image_size:
        raise TargetError(f"{t.describe()} is smaller than the image ({image_size / 1e9:.2f} GB); use a bigger card")
