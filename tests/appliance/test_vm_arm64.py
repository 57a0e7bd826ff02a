"""The arm64 path of the QEMU harness (tests/appliance/vm.py), without booting: which kernel, initrd and command
line the `virt` machine gets from an image's boot partition, and QEMU's command line for each architecture."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.appliance import image_scenario
from tests.appliance.vm import (
    CONSOLE,
    Vm,
    emulator_drop_in,
    extract_arm64_boot,
    firmware_boot_files,
    image_arch,
    probe_script,
    virt_cmdline,
)

# config.txt as raspi-firmware and bootloader-backend-tryboot write it, with a slot B on trial
SLOTS_TRIAL_B = """\
# written by borderpost's boot loader backend (image_build/rauc/bootloader-backend-tryboot)
[all]
os_prefix=borderpost-a/
kernel=vmlinuz
initramfs initrd.img followkernel
[tryboot]
os_prefix=borderpost-b/
[all]
"""
CONFIG = "arm_64bit=1\nenable_uart=1\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n\n[all]\n" \
         "include borderpost-slots.txt\n"
SLOT_CMDLINE = "root=PARTLABEL=BPROOT ro rootwait fsck.repair=yes console=tty0 console=ttyS1,115200 rauc.slot=A\n"


def test_the_committed_slot_is_booted_not_the_one_on_trial() -> None:
    assert firmware_boot_files(CONFIG + SLOTS_TRIAL_B) == (
        "borderpost-a/vmlinuz", "borderpost-a/initrd.img", "borderpost-a/cmdline.txt")


def test_a_committed_slot_b_is_booted() -> None:
    slots = SLOTS_TRIAL_B.replace("os_prefix=borderpost-a/", "os_prefix=borderpost-b/", 1)
    assert firmware_boot_files(CONFIG + slots)[0] == "borderpost-b/vmlinuz"


def test_without_slots_the_top_level_kernel_is_booted() -> None:
    assert firmware_boot_files(CONFIG) == ("vmlinuz", "initrd.img", "cmdline.txt")


def test_the_pi_consoles_become_the_pl011() -> None:
    assert virt_cmdline(SLOT_CMDLINE) == ("root=PARTLABEL=BPROOT ro rootwait fsck.repair=yes rauc.slot=A "
                                          "console=ttyAMA0")


@pytest.mark.parametrize(("name", "arch"), [("borderpost-arm64.img", "arm64"), ("borderpost-amd64.img", "amd64"),
                                            ("disk.img", "amd64")])
def test_the_architecture_comes_from_the_image_name(name: str, arch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BORDERPOST_IMAGE_ARCH", raising=False)
    assert image_arch(Path("/x") / name) == arch


def test_an_unknown_forced_architecture_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BORDERPOST_IMAGE_ARCH", "riscv64")
    with pytest.raises(ValueError, match="riscv64"):
        image_arch(Path("borderpost-arm64.img"))


def test_the_arm64_probe_writes_to_the_pl011(tmp_path: Path) -> None:
    text = probe_script(tmp_path, "arm64").read_text()
    assert "> /dev/ttyAMA0" in text and "/dev/ttyS0" not in text
    assert "/dev/ttyS0" in probe_script(tmp_path, "amd64").read_text()


def test_the_emulator_limits_scale_with_the_slowdown() -> None:
    text = emulator_drop_in(2.0)
    assert "TimeoutStartSec=1200s" in text and "WatchdogSec=600s" in text and "BORDERPOST_BUSY_SEC=7200" in text


needs_mtools = pytest.mark.skipif(any(shutil.which(t) is None for t in ("mkfs.vfat", "mcopy", "mtype", "sfdisk")),
                                  reason="needs dosfstools, mtools, fdisk")


def fat_image(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A GPT disk named like an arm64 build, its BPBOOT partition at 1 MiB holding FILES."""
    boot = tmp_path / "boot.vfat"
    subprocess.run(["mkfs.vfat", "-n", "BPBOOT", "-C", str(boot), "8192"], check=True, capture_output=True)
    for name, data in files.items():
        src = tmp_path / "src" / name
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(data)
        if "/" in name:
            subprocess.run(["mmd", "-D", "s", "-i", str(boot), f"::{name.split('/')[0]}"], capture_output=True)
        subprocess.run(["mcopy", "-i", str(boot), str(src), f"::{name}"], check=True, capture_output=True)
    image = tmp_path / "borderpost-arm64.img"
    image.write_bytes(b"")
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["sfdisk", "--quiet", str(image)], input="label: gpt\nstart=1MiB, size=8MiB, name=BPBOOT\n",
                   text=True, check=True)
    subprocess.run(["dd", f"if={boot}", f"of={image}", "bs=1M", "seek=1", "conv=notrunc", "status=none"], check=True)
    return image


BOOT_FILES = {"config.txt": CONFIG.encode(), "borderpost-slots.txt": SLOTS_TRIAL_B.encode(),
              "vmlinuz": b"top-level kernel", "initrd.img": b"top-level initrd", "cmdline.txt": b"top-level\n",
              "borderpost-a/vmlinuz": b"slot A kernel", "borderpost-a/initrd.img": b"slot A initrd",
              "borderpost-a/cmdline.txt": SLOT_CMDLINE.encode(),
              "borderpost-b/vmlinuz": b"slot B kernel", "borderpost-b/initrd.img": b"slot B initrd",
              "borderpost-b/cmdline.txt": SLOT_CMDLINE.replace("BPROOT", "BPROOT_B").encode()}


@needs_mtools
def test_the_committed_slots_kernel_and_initrd_are_extracted(tmp_path: Path) -> None:
    image = fat_image(tmp_path, BOOT_FILES)
    work = tmp_path / "work"
    work.mkdir()
    kernel, initrd, cmdline = extract_arm64_boot(image, work)
    assert kernel.read_bytes() == b"slot A kernel" and initrd.read_bytes() == b"slot A initrd"
    assert cmdline.startswith("root=PARTLABEL=BPROOT ro ") and cmdline.endswith("rauc.slot=A console=ttyAMA0")


@needs_mtools
def test_arm64_runs_on_virt_with_the_slots_kernel_and_never_kvm(tmp_path: Path) -> None:
    image = fat_image(tmp_path, BOOT_FILES)
    work = tmp_path / "work"
    work.mkdir()
    vm = Vm(image, work, 18883)
    args = vm.command(kvm=True)
    assert args[:2] == ["qemu-system-aarch64", "-machine"] and args[2] == "virt"
    assert args[args.index("-cpu") + 1] == "cortex-a72" and "-enable-kvm" not in args
    assert "tcg,thread=multi" in args and not any("pflash" in a for a in args)
    assert Path(args[args.index("-kernel") + 1]).read_bytes() == b"slot A kernel"
    assert Path(args[args.index("-initrd") + 1]).read_bytes() == b"slot A initrd"
    assert args[args.index("-append") + 1].endswith(f"console={CONSOLE['arm64']}")
    assert f"file={image},format=raw,if=virtio,cache=unsafe" in args
    assert vm.slowdown > 1


def test_amd64_keeps_q35_with_ovmf(tmp_path: Path) -> None:
    vm = Vm(tmp_path / "borderpost-amd64.img", tmp_path, 18883)
    vm.workdir.joinpath("OVMF_VARS.fd").write_bytes(b"vars")   # no copy of the host's OVMF needed
    args = vm.command(kvm=False)
    assert args[:3] == ["qemu-system-x86_64", "-machine", "q35"] and "-kernel" not in args
    assert args[args.index("-cpu") + 1] == "max" and sum("if=pflash" in a for a in args) == 2
    assert vm.slowdown == 1


EXAMPLE = (Path(__file__).resolve().parents[2] / "examples/config.toml").read_text()


def test_a_slower_machine_gets_more_face_tries_at_the_limit() -> None:
    from edge.config import Config

    slow = image_scenario.test_config(EXAMPLE, portrait=False, emulated=True, slowdown=2.0)
    assert "\nface_attempt_s = 120\n" in slow and "\nretries = 5" in slow
    assert "\nretries = 2" in image_scenario.test_config(EXAMPLE, portrait=False, emulated=True)
    ui = Config.model_validate(tomllib.loads(slow)).ui
    assert (ui.retries, ui.face_attempt_s) == (5, 120)
