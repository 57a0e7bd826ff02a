"""Flashing benchmark: a 1 GiB sparse image with 20% mapped blocks, written and verified two ways.

    python bench/flash.py [--size-mib 1024] [--mapped 0.2] [--dir DIR]

  ours  `edge.flash.writer`: only the block map's ranges are written (hashed on the way), fsync, then each
        range is read back from the medium (page cache dropped) and compared.
  peer  what a technician does by hand: `dd bs=4M conv=fsync` of the whole image, then `sha256sum` of the
        image and of the target as a separate pass.

Both targets are files on the same filesystem; the source's cache is dropped (posix_fadvise) before each
run. The peer's `sha256sum` of the target may be served from the page cache (it does not verify the medium);
ours drops the cache per range. Prints seconds for each and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.flash import bmap as bmapmod
from edge.flash import target, writer


def make_image(path: Path, size: int, mapped: float, seed: int = 1) -> None:
    rnd = random.Random(seed)
    extent = 2 << 20
    n = max(1, int(size * mapped) // extent)
    slots = sorted(rnd.sample(range(size // extent), n))
    with open(path, "wb") as f:
        f.truncate(size)
        for s in slots:
            f.seek(s * extent)
            f.write(os.urandom(extent))
        os.fsync(f.fileno())


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def ours(image: Path, bmap: bmapmod.Bmap, dest: Path) -> float:
    drop_cache(image)
    t0 = time.perf_counter()
    src = writer.ImageSource(image)
    try:
        rep = writer.write(src, target.Target(dest, False, None), writer.extents_for(bmap), bmap.image_size)
    finally:
        src.close()
    writer.read_back(dest, rep.digests)
    return time.perf_counter() - t0


def peer(image: Path, dest: Path) -> float:
    drop_cache(image)
    t0 = time.perf_counter()
    subprocess.run(["dd", f"if={image}", f"of={dest}", "bs=4M", "conv=fsync", "status=none"], check=True)
    a = subprocess.run(["sha256sum", str(image)], capture_output=True, text=True, check=True).stdout.split()[0]
    b = subprocess.run(["sha256sum", str(dest)], capture_output=True, text=True, check=True).stdout.split()[0]
    elapsed = time.perf_counter() - t0
    if a != b:
        raise SystemExit("peer: checksums differ")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--mapped", type=float, default=0.2)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the 3 files (default: a temp dir)")
    args = ap.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bp-bench-flash-") as d:
        image, a, b = Path(d) / "image.img", Path(d) / "ours.img", Path(d) / "peer.img"
        make_image(image, size, args.mapped)
        bmap = bmapmod.generate(image)
        print(f"image {args.size_mib} MiB, mapped {bmap.mapped_bytes / 2**20:.0f} MiB "
              f"({100 * bmap.mapped_bytes / size:.1f}%) in {len(bmap.ranges)} ranges")
        t_ours = ours(image, bmap, a)
        a.unlink()
        t_peer = peer(image, b)
        b.unlink()
        print(f"ours (bmap write + read-back verify): {t_ours:6.2f} s  {size / 2**20 / t_ours:7.0f} MiB/s of image")
        print(f"peer (dd full copy + sha256sum x2):   {t_peer:6.2f} s  {size / 2**20 / t_peer:7.0f} MiB/s of image")
        print(f"speed-up: {t_peer / t_ours:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
