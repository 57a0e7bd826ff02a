"""Flashing benchmark: a 1 GiB sparse image with 20% mapped blocks, ours against `bmaptool copy`, same run.

    python bench/flash.py [--size-mib 1024] [--mapped 0.2] [--dir DIR]

  ours  `edge.flash.writer`: only the block map's ranges are written (hashed on the way), fsync, then each
        range is read back from the medium (page cache dropped) and compared.
  peer  `bmaptool copy` (Debian's bmap-tools), the standard tool for the same job: with the bmap that
        `bmaptool create` made for the image (made before timing, as a publisher ships it), it writes only the
        mapped ranges and checks each range's SHA-256 as it reads the image; it does not read the target back.

Both targets are files on the same filesystem; the source's cache is dropped (posix_fadvise) before each
run and each target is fsynced (bmaptool syncs at the end). Prints seconds for each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
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


def peer(image: Path, bmap_file: Path, dest: Path) -> float:
    drop_cache(image)
    t0 = time.perf_counter()
    subprocess.run(["bmaptool", "-q", "copy", "--bmap", str(bmap_file), str(image), str(dest)], check=True)
    return time.perf_counter() - t0


def same_mapped_data(image: Path, dest: Path, bmap: bmapmod.Bmap) -> bool:
    with open(image, "rb") as a, open(dest, "rb") as b:
        for r in bmap.ranges:
            start, length = bmap.byte_span(r)
            a.seek(start)
            b.seek(start)
            if a.read(length) != b.read(length):
                return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--mapped", type=float, default=0.2)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the 3 files (default: a temp dir)")
    args = ap.parse_args()
    if shutil.which("bmaptool") is None:
        print("bench/flash: bmaptool is not installed (apt-get install bmap-tools)", file=sys.stderr)
        return 2
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bp-bench-flash-") as d:
        image, a, b = Path(d) / "image.img", Path(d) / "ours.img", Path(d) / "peer.img"
        make_image(image, size, args.mapped)
        bmap = bmapmod.generate(image)
        print(f"image {args.size_mib} MiB, mapped {bmap.mapped_bytes / 2**20:.0f} MiB "
              f"({100 * bmap.mapped_bytes / size:.1f}%) in {len(bmap.ranges)} ranges")
        bmap_file = Path(d) / "image.bmap"
        subprocess.run(["bmaptool", "-q", "create", "-o", str(bmap_file), str(image)], check=True)
        t_ours = ours(image, bmap, a)
        ok_ours = same_mapped_data(image, a, bmap)
        a.unlink()
        t_peer = peer(image, bmap_file, b)
        ok_peer = same_mapped_data(image, b, bmap)
        b.unlink()
        print(f"ours (bmap write + read-back verify):        {t_ours:6.2f} s  {size / 2**20 / t_ours:7.0f} MiB/s "
              f"of image  data {'identical' if ok_ours else 'DIFFERS'}")
        print(f"bmaptool copy (bmap write + source SHA-256): {t_peer:6.2f} s  {size / 2**20 / t_peer:7.0f} MiB/s "
              f"of image  data {'identical' if ok_peer else 'DIFFERS'}")
        print(f"ours / bmaptool time: {t_ours / t_peer:.2f} (ours also reads every range back from the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
