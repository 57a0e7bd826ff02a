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
from tests.appliance.vm import OVMF_CODE
from tests.support.broker import mosquitto_path

IMAGE = os.environ.get("BORDERPOST_IMAGE", "")
NEEDED = ["qemu-system-x86_64", "mcopy", "debugfs", "e2fsck", "sfdisk"]

pytestmark = pytest.mark.skipif(not IMAGE, reason="opt-in: set BORDERPOST_IMAGE to a built image (make image-test)")


@pytest.mark.timeout(6000)   # two boots and the simulator under TCG on a loaded 2-core host: 23-36 min
def test_image_boots_provisions_delivers_and_survives_a_power_cut(tmp_path: Path) -> None:
    # asked for (BORDERPOST_IMAGE set): a missing tool or image is a failure, never a quiet skip
    missing = [t for t in NEEDED if shutil.which(t) is None] + ([] if mosquitto_path() else ["mosquitto"]) \
        + ([] if OVMF_CODE.is_file() else [str(OVMF_CODE)])
    assert not missing, (f"missing {', '.join(missing)} (apt: qemu-system-x86 ovmf mtools e2fsprogs fdisk "
                         "mosquitto)")
    assert Path(IMAGE).is_file(), f"no image at {IMAGE} (make image)"
    figures = run_scenario(Path(IMAGE), tmp_path)
    assert figures["boot_to_ready_s"] > 0 and figures["power_cut_to_ready_s"] > 0
    # the run's figures beside the image (bench/image.py prints the same ones with build time and size)
    (Path(IMAGE).parent / "boot-figures.json").write_text(json.dumps(figures, indent=2) + "\n")
