"""The built appliance image, booted in QEMU (opt-in: `make image-test`, or BORDERPOST_IMAGE=path/to/image.img).

One scenario, two boots of one scratch copy of the image (tests/appliance/image_scenario.py): first boot
provisions from the bundle on the boot partition; station and uplink reach ready; the kiosk page is served;
simulated crossings reach a mosquitto on the host over mutual TLS; then QEMU is killed in the middle of
recording and the second boot must keep every committed crossing, deliver them, and leave the filesystems clean.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.appliance.image_scenario import run_scenario
from tests.appliance.vm import OVMF_CODE, SLOWDOWN, image_arch
from tests.support.broker import mosquitto_path

IMAGE = os.environ.get("BORDERPOST_IMAGE", "")
NEEDED = ["mcopy", "mtype", "debugfs", "e2fsck", "sfdisk"]
# per architecture: the emulator and its firmware, and the packages that have them
MACHINE = {"amd64": (["qemu-system-x86_64"], [OVMF_CODE], "qemu-system-x86 ovmf"),
           "arm64": (["qemu-system-aarch64"], [], "qemu-system-arm")}

pytestmark = pytest.mark.skipif(not IMAGE, reason="opt-in: set BORDERPOST_IMAGE to a built image (make image-test)")


# two boots and the simulator under TCG on a loaded 2-core host: 23-36 min (amd64); arm64 scaled by its slowdown
@pytest.mark.timeout(6000 * SLOWDOWN[image_arch(Path(IMAGE))] if IMAGE else 6000)
def test_image_boots_provisions_delivers_and_survives_a_power_cut(tmp_path: Path) -> None:
    # asked for (BORDERPOST_IMAGE set): a missing tool or image is a failure, never a quiet skip
    arch = image_arch(Path(IMAGE))
    tools, firmware, packages = MACHINE[arch]
    missing = [t for t in NEEDED + tools if shutil.which(t) is None] + ([] if mosquitto_path() else ["mosquitto"]) \
        + [str(f) for f in firmware if not f.is_file()]
    assert not missing, f"missing {', '.join(missing)} (apt: {packages} mtools e2fsprogs fdisk mosquitto)"
    assert Path(IMAGE).is_file(), f"no image at {IMAGE} (make image)"
    figures = run_scenario(Path(IMAGE), tmp_path)
    assert figures["boot_to_ready_s"] > 0 and figures["power_cut_to_ready_s"] > 0
    # the run's figures beside the image (bench/image.py prints the same ones with build time and size)
    name = "boot-figures.json" if arch == "amd64" else f"boot-figures-{arch}.json"
    (Path(IMAGE).parent / name).write_text(json.dumps(figures, indent=2) + "\n")
