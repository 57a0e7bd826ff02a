"""RAUC's custom boot loader backend for the Raspberry Pi firmware's tryboot (image_build/rauc/
bootloader-backend-tryboot), run for real on a boot-partition directory. The firmware's side is modelled from
its documented config.txt rules: sections [all] and [tryboot] (the latter applies only to a boot started with
the one-shot tryboot flag, i.e. `reboot "0 tryboot"`), later settings override earlier ones, `include` reads
another file in place, and os_prefix names the directory kernel, initramfs and cmdline.txt are read from."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[2] / "image_build" / "rauc" / "bootloader-backend-tryboot"
DEBIAN_CONFIG = "# raspi-firmware\n[all]\nkernel=vmlinuz-6.1.0-28-arm64\ninitramfs initrd.img-6.1.0-28-arm64\n"
DEBIAN_CMDLINE = "console=tty0 console=ttyS1,115200 root=PARTLABEL=BPROOT rw fsck.repair=yes net.ifnames=0 rootwait\n"


def make_root(path: Path, tag: str) -> Path:
    """A slot's root filesystem: Debian's kernel and initrd symlinks and the kernel's device trees."""
    (path / "boot").mkdir(parents=True)
    (path / "boot" / f"vmlinuz-6.1.0-{tag}").write_bytes(f"kernel {tag}".encode())
    (path / "boot" / f"initrd.img-6.1.0-{tag}").write_bytes(f"initrd {tag}".encode())
    (path / "vmlinuz").symlink_to(f"boot/vmlinuz-6.1.0-{tag}")
    (path / "initrd.img").symlink_to(f"boot/initrd.img-6.1.0-{tag}")
    dtbs = path / "usr" / "lib" / f"linux-image-6.1.0-{tag}" / "broadcom"
    dtbs.mkdir(parents=True)
    (dtbs / "bcm2711-rpi-4-b.dtb").write_bytes(f"dtb {tag}".encode())
    (dtbs.parent / "overlays").mkdir()
    (dtbs.parent / "overlays" / "vc4-kms-v3d.dtbo").write_bytes(b"overlay")
    return path


class Pi:
    """A boot partition, both slots' roots, and the firmware choosing what to boot."""

    def __init__(self, tmp: Path) -> None:
        self.esp = tmp / "firmware"
        self.esp.mkdir()
        (self.esp / "config.txt").write_text(DEBIAN_CONFIG)
        (self.esp / "cmdline.txt").write_text(DEBIAN_CMDLINE)
        self.roots = {"A": make_root(tmp / "root-a", "a"), "B": make_root(tmp / "root-b", "b")}
        self.run_dir = tmp / "run"
        self.cmdline = tmp / "proc-cmdline"
        self.flag = tmp / "tryboot"
        self.booted: str | None = None
        self.tryboot = False

    @property
    def reboot_param(self) -> Path:
        return self.run_dir / "systemd" / "reboot-param"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "BORDERPOST_ESP": str(self.esp), "BORDERPOST_CMDLINE": str(self.cmdline),
               "BORDERPOST_TRYBOOT_FLAG": str(self.flag), "BORDERPOST_REBOOT_PARAM": str(self.reboot_param),
               "BORDERPOST_SLOT_DIR_A": str(self.roots["A"]), "BORDERPOST_SLOT_DIR_B": str(self.roots["B"])}
        return subprocess.run(["bash", str(BACKEND), *args], env=env, capture_output=True, text=True, check=check)

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def settings(self, tryboot: bool) -> dict[str, str]:
        """config.txt as the firmware reads it: includes in place, [all]/[tryboot] filters, last one wins."""
        lines: list[str] = []

        def read(name: str) -> None:
            for line in (self.esp / name).read_text().splitlines():
                if line.startswith("include "):
                    read(line.split(None, 1)[1])
                else:
                    lines.append(line.strip())

        read("config.txt")
        active, found = True, {}
        for line in lines:
            if line.startswith("["):
                active = line == "[all]" or (line == "[tryboot]" and tryboot)
            elif active and line and not line.startswith("#"):
                key, _, value = line.partition("=") if "=" in line.split()[0] else line.partition(" ")
                found[key] = value
        return found

    def boot(self) -> str:
        """Reboot: the firmware honours the reboot parameter once (tryboot), /run is emptied, a slot starts."""
        self.tryboot = self.reboot_param.exists() and self.reboot_param.read_text().strip() == "0 tryboot"
        if self.run_dir.exists():
            subprocess.run(["rm", "-rf", str(self.run_dir)], check=True)
        s = self.settings(self.tryboot)
        prefix = self.esp / s.get("os_prefix", "")
        kernel = (prefix / s["kernel"]).read_bytes()
        initrd = (prefix / s["initramfs"].split()[0]).read_bytes()
        cmdline = (prefix / "cmdline.txt").read_text()
        slot = cmdline.split("rauc.slot=")[1][0]
        assert kernel == f"kernel {slot.lower()}".encode() and initrd == f"initrd {slot.lower()}".encode()
        assert f"root=PARTLABEL={'BPROOT' if slot == 'A' else 'BPROOT_B'} " in cmdline
        self.cmdline.write_text(cmdline)
        self.flag.write_bytes(b"\x00\x00\x00\x01" if self.tryboot else b"\x00\x00\x00\x00")
        self.booted = slot
        return slot

    def install(self, slot: str) -> None:
        """What RAUC asks of the backend around writing a slot: bad while written, then primary."""
        self.run("set-state", slot, "bad")
        self.run("set-primary", slot)


@pytest.fixture
def pi(tmp_path: Path) -> Pi:
    p = Pi(tmp_path)
    p.run("init")
    assert p.boot() == "A"
    return p


def test_init_makes_slot_a_the_committed_slot_with_its_own_directory(pi: Pi) -> None:
    d = pi.esp / "borderpost-a"
    assert (d / "vmlinuz").read_bytes() == b"kernel a" and (d / "bcm2711-rpi-4-b.dtb").exists()
    assert (d / "overlays" / "vc4-kms-v3d.dtbo").exists()
    cmdline = (d / "cmdline.txt").read_text()
    assert "root=PARTLABEL=BPROOT " in cmdline and cmdline.strip().endswith("rauc.slot=A")
    assert "console=ttyS1,115200" in cmdline and "net.ifnames=0" in cmdline   # raspi-firmware's options kept
    assert (pi.out("get-primary"), pi.out("get-state", "A"), pi.out("get-state", "B")) == ("A", "good", "bad")
    pi.run("init")   # idempotent: one include line
    assert (pi.esp / "config.txt").read_text().count("include borderpost-slots.txt") == 1


def test_a_new_slot_is_tried_once_and_committed_when_blessed(pi: Pi) -> None:
    pi.install("B")
    assert pi.out("get-primary") == "B" and pi.reboot_param.read_text().strip() == "0 tryboot"
    assert pi.settings(tryboot=False)["os_prefix"] == "borderpost-a/"     # an ordinary boot would still be A
    assert pi.boot() == "B" and pi.tryboot
    pi.run("set-state", "B", "good")                                     # rauc status mark-good booted
    assert pi.out("get-primary") == "B"
    assert pi.boot() == "B" and not pi.tryboot                            # committed: every boot is B now
    assert pi.out("get-state", "A") == "good"                             # the old slot stays a fallback


def test_a_trial_that_fails_its_health_check_falls_back(pi: Pi) -> None:
    pi.install("B")
    assert pi.boot() == "B"
    pi.run("set-state", "B", "bad")                                      # health-check: mark-bad booted, reboot
    assert not pi.reboot_param.exists()
    assert pi.boot() == "A" and pi.out("get-primary") == "A" and pi.out("get-state", "B") == "bad"


def test_a_trial_that_hangs_falls_back_and_is_not_trusted(pi: Pi) -> None:
    pi.install("B")
    assert pi.boot() == "B"            # hangs: the watchdog resets the board, nothing is written
    assert pi.boot() == "A"            # tryboot is one-shot
    pi.run("set-state", "A", "good")   # the committed slot is blessed on its ordinary boot
    assert pi.out("get-primary") == "A" and pi.out("get-state", "B") == "bad"
    assert pi.boot() == "A"


def test_updates_alternate_between_the_slots(pi: Pi) -> None:
    pi.install("B")
    pi.boot()
    pi.run("set-state", "B", "good")
    make_root(pi.roots["A"].parent / "root-a2", "a")  # a new release written into slot A
    pi.install("A")
    assert pi.out("get-primary") == "A" and pi.boot() == "A" and pi.tryboot
    pi.run("set-state", "A", "good")
    assert pi.boot() == "A" and not pi.tryboot


def test_an_unhealthy_committed_slot_hands_over_to_a_good_other_slot(pi: Pi) -> None:
    pi.install("B")
    pi.boot()
    pi.run("set-state", "B", "good")
    pi.run("set-state", "A", "good")
    pi.run("set-state", "B", "bad")    # B (committed) fails its health check later, A is good
    assert pi.boot() == "A"


def test_bad_arguments_are_refused_with_a_reason(pi: Pi) -> None:
    for args in (("get-state", "C"), ("set-state", "A", "maybe"), ("frobnicate",)):
        r = pi.run(*args, check=False)
        assert r.returncode != 0 and "borderpost-bootloader:" in r.stderr


def test_a_slot_without_a_kernel_is_refused(pi: Pi) -> None:
    (pi.roots["B"] / "vmlinuz").unlink()
    pi.run("set-state", "B", "bad")
    r = pi.run("set-primary", "B", check=False)
    assert r.returncode != 0 and "no /vmlinuz" in r.stderr
    assert pi.boot() == "A" and pi.out("get-primary") == "A"


@pytest.mark.parametrize("arch,backend", [("arm64", "bootloader-backend-tryboot"), ("amd64", "bootloader-backend")])
def test_the_image_gets_the_backend_of_its_boot_loader(tmp_path: Path, arch: str, backend: str) -> None:
    keyring = tmp_path / "ca.cert.pem"
    keyring.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["bash", str(BACKEND.parent / "install.sh"), str(root), arch], check=True, capture_output=True,
                   env={**os.environ, "BORDERPOST_UPDATE_KEYRING": str(keyring)})
    installed = root / "usr" / "lib" / "borderpost" / "rauc" / "bootloader-backend"
    assert installed.read_bytes() == (BACKEND.parent / backend).read_bytes() and os.access(installed, os.X_OK)
    assert f"compatible=borderpost-{arch}" in (root / "etc" / "rauc" / "system.conf").read_text()
