"""The appliance image's figures: build time and size, boot-to-ready and power-cut-to-ready in QEMU, and the
resident memory of each service in the booted guest (goal: all services together <= 300 MB on a 1 GB board).

    python -m bench.image [--build] [--image artifacts/image/borderpost-amd64.img]

--build runs image_build/debian/build.sh first (as root) and times it. The boot figures come from the same
scenario as tests/appliance/test_image_boot.py (both boots, every check asserted).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.appliance.image_scenario import run_scenario  # noqa: E402

GOAL_SERVICES_KIB = 300 * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=REPO / "artifacts/image/borderpost-amd64.img")
    ap.add_argument("--build", action="store_true", help="build the image first and time it")
    args = ap.parse_args()
    figures: dict[str, float] = {}
    if args.build:
        start = time.monotonic()
        subprocess.run([str(REPO / "image_build/debian/build.sh"), str(args.image.parent)], check=True)
        figures["build_s"] = round(time.monotonic() - start, 1)
    if not args.image.exists():
        print(f"bench/image: no image at {args.image} (make image, or --build)", file=sys.stderr)
        return 2
    st = args.image.stat()
    figures["image_mib"] = round(st.st_size / 2**20, 1)
    figures["image_allocated_mib"] = round(st.st_blocks * 512 / 2**20, 1)
    xz = subprocess.run(f"xz -T0 -1 -c '{args.image}' | wc -c", shell=True, capture_output=True, text=True)
    if xz.returncode == 0 and xz.stdout.strip():
        figures["image_xz_mib"] = round(int(xz.stdout) / 2**20, 1)
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        figures.update(run_scenario(args.image, Path(tmp)))
    services = sum(v for k, v in figures.items() if k.startswith("rss_"))
    figures["rss_services_total_kib"] = services
    figures["rss_goal_kib"] = GOAL_SERVICES_KIB
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
