"""A/B updates of the built image in QEMU (opt-in like the boot test: BORDERPOST_IMAGE=path/to/image.img).

One scratch copy of the image, four boots (tests/update/guest/update-probe.sh drives the guest):
1. slot A, provisioned at first boot, healthy: `borderpost update install` of a good bundle into slot B;
2. slot B boots from its systemd-boot entry with tries left, passes the health check and is marked good
   (good path); from B, a bundle whose station cannot start is installed into slot A;
3. slot A (broken) fails its health check, is marked bad and the device reboots;
4. systemd-boot falls back to slot B and RAUC reports slot A bad (fallback).
Both bundles are made by `make bundle`'s script from the scratch copy (so they carry the probe), signed with
the development keys the image's keyring came from. Under TCG each boot takes minutes (BOOT_TIMEOUT).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.appliance.image_scenario import make_bundle
from tests.appliance.vm import EMULATOR_DROP_IN, Vm, kvm_usable, partitions, put_bundle
from tests.support.broker import free_port

IMAGE = os.environ.get("BORDERPOST_IMAGE", "")
ROOT = Path(__file__).resolve().parents[2]
GUEST = ROOT / "tests" / "update" / "guest"
BOOT_TIMEOUT = float(os.environ.get("BORDERPOST_BOOT_TIMEOUT", "1500"))
# writing a 1.85 GB slot through dm-verity under TCG on a busy 2-core host took over 25 min
INSTALL_TIMEOUT = float(os.environ.get("BORDERPOST_INSTALL_TIMEOUT", "5400"))
NEEDED = ["qemu-system-x86_64", "mcopy", "debugfs", "sfdisk", "mkfs.ext4", "rauc", "mksquashfs", "openssl"]
BROKEN = "/etc/systemd/system/borderpost-station.service.d/zz-broken-release.conf"

pytestmark = [
    pytest.mark.skipif(not IMAGE, reason="opt-in: set BORDERPOST_IMAGE to a built image (make image-test)"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in NEEDED),
                       reason=f"needs {', '.join(NEEDED)} (apt: qemu-system-x86 mtools e2fsprogs fdisk ovmf rauc "
                              "squashfs-tools openssl)"),
]


def debugfs(image: Path, commands: list[str]) -> str:
    off = partitions(image)["BPROOT"]
    out = subprocess.run(["debugfs", "-w", "-f", "-", f"{image}?offset={off}"], input="\n".join(commands) + "\n",
                         text=True, capture_output=True, check=True)
    return out.stderr


def write_files(image: Path, files: dict[str, Path], enable: str | None = None) -> None:
    """Write FILES (guest path -> host file) into the image's root, making parent directories."""
    dirs = sorted({str(Path(g).parent) for g in files})
    cmds = [f"mkdir {d}" for d in dirs if "File not found" in debugfs(image, [f"stat {d}"])]
    for guest, host in files.items():
        mode = "0100755" if "/sbin/" in guest or "/lib/borderpost/rauc/" in guest else "0100644"
        cmds += [f"write {host} {guest}", f"sif {guest} mode {mode}"]
    if enable:
        cmds.append(f"symlink /etc/systemd/system/multi-user.target.wants/{enable} /etc/systemd/system/{enable}")
    err = debugfs(image, cmds)
    if "rror" in err:
        raise RuntimeError(f"debugfs: {err.strip()}")


def build_bundle(disk: Path, out: Path, version: str) -> Path:
    env = {**os.environ, "BORDERPOST_BUNDLE_VERSION": version, "BORDERPOST_MKSQUASHFS_ARGS": "-comp lz4",
           "BORDERPOST_ARCH": "amd64"}
    r = subprocess.run([str(ROOT / "image_build/rauc/make-bundle.sh"), str(disk), str(out)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    print(r.stdout.strip())
    return out / f"borderpost-amd64-{version}.raucb"


def wait_exit(vm: Vm, timeout: float) -> None:
    """The guest rebooted or powered off: QEMU runs with -no-reboot, so it exits."""
    assert vm.proc is not None
    try:
        vm.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the guest did not reboot in {timeout:.0f} s:\n{vm.tail()}") from None
    vm.poll_lines()


def fields(rest: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in rest.split() if "=" in p)


def slots(status_line: str) -> dict[str, dict]:
    st = json.loads(status_line)
    return {s["bootname"]: s for s in st["slots"]} | {"_": st}


@pytest.mark.timeout(4 * 5400)
def test_update_good_path_then_fallback_in_qemu(tmp_path: Path) -> None:
    image = Path(IMAGE)
    if "BPROOT_B" not in partitions(image):
        pytest.fail(f"{image} has no slot B (BPROOT_B): built before A/B updates; rebuild it (make image)")
    disk = tmp_path / "disk.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    kvm = kvm_usable()
    files = {"/usr/local/sbin/borderpost-update-probe": GUEST / "update-probe.sh",
             "/etc/systemd/system/borderpost-update-probe.service": GUEST / "borderpost-update-probe.service"}
    if not kvm:
        drop_in = tmp_path / "emulator.conf"
        drop_in.write_text(EMULATOR_DROP_IN)
        files |= {f"/etc/systemd/system/{u}.service.d/zz-emulator.conf": drop_in
                  for u in ("borderpost-station", "borderpost-uplink")}
        # an emulated first boot on a busy host takes minutes to reach the data partition's creation: wait for it
        device_wait = tmp_path / "device-wait.conf"
        device_wait.write_text("[Unit]\nJobRunningTimeoutSec=30min\n")
        files["/etc/systemd/system/dev-disk-by\\x2dlabel-BPDATA.device.d/zz-emulator.conf"] = device_wait
    write_files(disk, files, enable="borderpost-update-probe.service")
    # this checkout's update pieces (as image_build/rauc/install.sh puts them), so the test runs the code under test
    rauc_dir = ROOT / "image_build" / "rauc"
    current = {f"/etc/systemd/system/{u}": rauc_dir / u
               for u in ("borderpost-health.service", "borderpost-mark-good.service")}
    current |= {f"/usr/lib/borderpost/rauc/{n}": rauc_dir / n for n in ("bootloader-backend", "health-check")}
    debugfs(disk, [f"rm {g}" for g in current])
    write_files(disk, current)

    # the bundles, from the scratch copy's root: a good one, then one whose station cannot start
    upd = tmp_path / "update"
    upd.mkdir()
    good = build_bundle(disk, tmp_path / "bundles", "test-good")
    write_files(disk, {BROKEN: GUEST / "broken-station.conf"})
    broken = build_bundle(disk, tmp_path / "bundles", "test-broken")
    debugfs(disk, [f"rm {BROKEN}"])
    assert "File not found" in debugfs(disk, [f"stat {BROKEN}"]), "slot A must stay healthy"
    figures: dict[str, float] = {"bundle_mib": round(good.stat().st_size / 2**20, 1)}
    shutil.move(good, upd / "good.raucb")
    shutil.move(broken, upd / "broken.raucb")
    size = sum(p.stat().st_size for p in upd.iterdir())
    update_disk = tmp_path / "update.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-L", "BPUPDATE", "-d", str(upd), str(update_disk),
                    f"{size // 2**20 + 64}M"], check=True)
    shutil.rmtree(upd)

    (tmp_path / "agency").mkdir()
    _ca, _ca_key, provisioning, _ = make_bundle(tmp_path / "agency")
    put_bundle(disk, provisioning)
    vm = Vm(disk, tmp_path, free_port(), extra_drives=[update_disk])
    try:
        # boot 1: slot A (first boot: provisioning), healthy; install the good bundle into B
        vm.start(kvm)
        _, boot = vm.wait_for("boot", BOOT_TIMEOUT)
        assert fields(boot) | {"uptime": ""} == {"slot": "A", "phase": "none", "uptime": ""}, boot
        _, health = vm.wait_for("health", BOOT_TIMEOUT)
        assert health.split()[0] == "active", vm.tail()
        _, installed = vm.wait_for("installed", INSTALL_TIMEOUT)
        t_installed = time.monotonic()
        assert fields(installed)["rc"] == "0", vm.values("progress")
        figures["install_s"] = float(fields(installed)["seconds"])
        _, after = vm.wait_for("status_after", 120)
        st = slots(after)
        assert st["_"]["booted"] == "A" and st["_"]["boot_primary"] == "rootfs.1", after
        wait_exit(vm, 600)

        # boot 2: slot B from its counted entry, healthy, marked good (the good path)
        t_boot = time.monotonic()
        vm.start(kvm)
        _, boot = vm.wait_for("boot", BOOT_TIMEOUT)
        assert fields(boot)["slot"] == "B" and fields(boot)["phase"] == "good", boot
        _, health = vm.wait_for("health", BOOT_TIMEOUT)
        assert health.split()[0] == "active", vm.tail()
        _, marked = vm.wait_for("markgood", 300)
        assert marked == "active", vm.tail()
        figures["reboot_to_blessed_s"] = round(time.monotonic() - t_boot, 1)
        # bundle handed over -> slot written -> reboot -> blessed (the guest's own count of the install included)
        figures["update_to_blessed_s"] = round(figures["install_s"] + time.monotonic() - t_installed, 1)
        _, entries = vm.wait_for("entries", 120)
        assert "borderpost-b.conf" in entries.split(), entries     # blessed: the tries counter is gone
        _, status = vm.wait_for("status", 120)
        st = slots(status)
        assert st["_"]["booted"] == "B" and st["B"]["boot_status"] == "good" and st["B"]["version"] == "test-good"
        # ... and from B, the broken bundle into A
        _, installed = vm.wait_for("installed", INSTALL_TIMEOUT)
        assert fields(installed)["rc"] == "0", vm.values("progress")
        figures["install_from_b_s"] = float(fields(installed)["seconds"])
        wait_exit(vm, 600)

        # boot 3: slot A with the broken release: the health check fails, marks A bad and reboots (the probe may
        # not get to speak before the reboot: the console has the kernel command line and the check's verdict)
        t_broken = time.monotonic()
        vm.start(kvm)
        wait_exit(vm, 2 * BOOT_TIMEOUT)
        figures["broken_boot_to_reboot_s"] = round(time.monotonic() - t_broken, 1)
        console = vm.console.read_text("utf-8", "replace")
        assert "rauc.slot=A" in console and "rauc.slot=B" not in console, vm.tail()
        assert "borderpost-station.service did not reach ready" in console, vm.tail()
        assert "marking slot A bad and rebooting into slot B" in console, vm.tail()

        # boot 4: systemd-boot fell back to B; RAUC reports A bad (the fallback)
        vm.start(kvm)
        _, boot = vm.wait_for("boot", BOOT_TIMEOUT)
        assert fields(boot)["slot"] == "B" and fields(boot)["phase"] == "broken", boot
        _, health = vm.wait_for("health", BOOT_TIMEOUT)
        assert health.split()[0] == "active", vm.tail()
        # the broken release's boot started -> marked bad -> the good slot up and healthy again
        figures["fallback_s"] = round(time.monotonic() - t_broken, 1)
        _, status = vm.wait_for("status", 300)
        st = slots(status)
        assert st["_"]["booted"] == "B" and st["A"]["boot_status"] == "bad", status
        _, entries = vm.wait_for("entries", 120)
        assert any(e.startswith("borderpost-a+0") for e in entries.split()), entries
        vm.wait_for("done", 300)
        wait_exit(vm, 600)
        figures["kvm"] = float(kvm)
        # beside the image, like the boot test's boot-figures.json (bench/image.py --update-figures prints them)
        (image.parent / "update-figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        vm.power_cut()
        print(f"update figures: {json.dumps(figures)}")
