"""Boot a built appliance image in QEMU: a scratch copy of the disk, a provisioning bundle on its boot partition,
the test probe in its root, the serial console read line by line, power cut by killing QEMU.

Disk edits need no loop device and no root: mtools writes the FAT boot partition and debugfs the ext4 root, both
at the partition's byte offset inside the image.

amd64 boots through OVMF and systemd-boot (q35). arm64 images are made for the Raspberry Pi firmware, which QEMU
does not have: the `virt` machine is given the kernel, initrd and command line the firmware would load (the
committed slot's directory named by borderpost-slots.txt on the boot partition), its console moved to the PL011.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

GUEST = Path(__file__).parent / "guest"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
PROBE = re.compile(r"BPPROBE (\S+) ?(.*)")
ARCH_NAME = re.compile(r"borderpost-(amd64|arm64)")
# The serial console the probe writes to: the 16550 on q35, the PL011 on virt.
CONSOLE = {"amd64": "ttyS0", "arm64": "ttyAMA0"}
# TCG slowdown relative to amd64's: timeouts are multiplied by it. A Pi 4's CPU (cortex-a72: no pointer
# authentication, which `-cpu max` emulates at great cost) emulated on x86.
SLOWDOWN = {"amd64": 1.0, "arm64": float(os.environ.get("BORDERPOST_ARM64_SLOWDOWN", "2"))}
ARM64_CPU = "cortex-a72"
RELAY = Path(__file__).parent / "tcp_relay.py"
BROKER_GUEST_IP = "10.0.2.100"      # the guest's broker address, forwarded by QEMU to the host's mosquitto


def partitions(image: Path) -> dict[str, int]:
    """Partition name -> byte offset (the GPT names BPBOOT, BPROOT written by the build)."""
    table = json.loads(subprocess.run(["sfdisk", "-J", str(image)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    sector = table.get("sectorsize", 512)
    return {p.get("name", p["node"]): p["start"] * sector for p in table["partitions"]}


def put_bundle(image: Path, bundle: Path) -> None:
    """Copy a provisioning bundle to BOOT/borderpost, as a technician does on the flashed card."""
    off = partitions(image)["BPBOOT"]
    target = f"{image}@@{off}"
    subprocess.run(["mmd", "-i", target, "::/borderpost"], check=True, capture_output=True)
    files = [str(p) for p in sorted(bundle.iterdir())]
    subprocess.run(["mcopy", "-s", "-i", target, *files, "::/borderpost/"], check=True, capture_output=True)


def image_arch(image: Path) -> str:
    """The image's architecture from the build's file name (borderpost-<arch>.img; any other name is amd64's,
    so a scratch copy is given its architecture by the caller); BORDERPOST_IMAGE_ARCH overrides it for images
    renamed otherwise."""
    forced = os.environ.get("BORDERPOST_IMAGE_ARCH", "")
    if forced:
        if forced not in CONSOLE:
            raise ValueError(f"BORDERPOST_IMAGE_ARCH={forced}: amd64 or arm64")
        return forced
    m = ARCH_NAME.search(image.name)
    return m.group(1) if m else "amd64"


def _mtype(image: Path, path: str) -> str | None:
    """A text file of the boot partition, or None when it is absent."""
    off = partitions(image)["BPBOOT"]
    out = subprocess.run(["mtype", "-i", f"{image}@@{off}", f"::{path}"], capture_output=True)
    return out.stdout.decode("utf-8", "replace") if out.returncode == 0 else None


def firmware_boot_files(config: str) -> tuple[str, str, str]:
    """(kernel, initrd, cmdline) paths on the boot partition that the Pi firmware loads on an ordinary boot, from
    config.txt with its included borderpost-slots.txt: the last os_prefix, kernel= and initramfs under [all]
    ([tryboot] applies only to a one-shot trial boot, which QEMU cannot ask for)."""
    section, prefix, kernel, initrd = "all", "", "vmlinuz", "initrd.img"
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]").lower()
            continue
        if section != "all" or not line:
            continue
        if line.startswith("os_prefix="):
            prefix = line.split("=", 1)[1]
        elif line.startswith("kernel="):
            kernel = line.split("=", 1)[1]
        elif line.startswith("initramfs "):
            initrd = line.split()[1]
    return f"{prefix}{kernel}", f"{prefix}{initrd}", f"{prefix}cmdline.txt"


def virt_cmdline(cmdline: str) -> str:
    """The slot's kernel command line with its consoles (the Pi's UART and screen) replaced by virt's PL011."""
    kept = [a for a in cmdline.split() if not a.startswith("console=")]
    return " ".join([*kept, f"console={CONSOLE['arm64']}"])


def extract_arm64_boot(image: Path, workdir: Path) -> tuple[Path, Path, str]:
    """The kernel, initrd (copied into WORKDIR) and command line of the committed slot, read from the image's
    boot partition at every start: an update changes which slot that is."""
    config = (_mtype(image, "config.txt") or "") + "\n" + (_mtype(image, "borderpost-slots.txt") or "")
    kernel, initrd, cmdline = firmware_boot_files(config)
    off = partitions(image)["BPBOOT"]
    out: list[Path] = []
    for src, name in ((kernel, "vmlinuz"), (initrd, "initrd.img")):
        dest = workdir / name
        subprocess.run(["mcopy", "-o", "-n", "-i", f"{image}@@{off}", f"::{src}", str(dest)], check=True,
                       capture_output=True)
        out.append(dest)
    text = _mtype(image, cmdline)
    if text is None:
        raise RuntimeError(f"no {cmdline} on the boot partition of {image}")
    return out[0], out[1], virt_cmdline(text.strip().splitlines()[0])


# Test-only files written into the scratch copy's root beside the probe: guest path -> host path.
ProbeFiles = dict[str, Path]

# QEMU's TCG emulates the CPU ~40x slower than this host. The interpreter's start and imports, before a service
# can report progress, take the uplink 40-60 s of its 60 s there (a few seconds on a board), so TimeoutStartSec
# grows to ten minutes; each later start-up step (EXTEND_TIMEOUT_USEC) gets ten minutes instead of one, the
# watchdog five instead of 30-60 s, and an auto-mode crossing an hour of fed watchdog instead of five minutes.
def emulator_drop_in(slowdown: float = 1.0) -> str:
    """The services' limits under TCG, SLOWDOWN times amd64's."""
    def scaled(seconds: int) -> int:
        return int(seconds * slowdown)
    return (f"[Service]\nTimeoutStartSec={scaled(600)}s\n"
            f"Environment=BORDERPOST_START_STEP_SEC={scaled(600)} BORDERPOST_BUSY_SEC={scaled(3600)}\n"
            f"WatchdogSec={scaled(300)}s\n")


EMULATOR_DROP_IN = emulator_drop_in()


def _debugfs(image: Path, offset: int, commands: list[str]) -> str:
    out = subprocess.run(["debugfs", "-w", "-f", "-", f"{image}?offset={offset}"], input="\n".join(commands) + "\n",
                         text=True, capture_output=True, check=True)
    return out.stderr


def probe_script(workdir: Path, arch: str) -> Path:
    """The probe for ARCH: it reports on the machine's first serial port."""
    if arch == "amd64":
        return GUEST / "probe.sh"
    text = (GUEST / "probe.sh").read_text()
    assert "/dev/ttyS0" in text, "probe.sh no longer writes to /dev/ttyS0"
    out = workdir / f"probe-{arch}.sh"
    out.write_text(text.replace("/dev/ttyS0", f"/dev/{CONSOLE[arch]}"))
    return out


def install_probe(image: Path, files: ProbeFiles | None = None, emulated: bool = False,
                  arch: str = "amd64") -> None:
    """Write the test probe (script, unit, enablement link), FILES and, under TCG, the emulator drop-ins into the
    image's root filesystem. Missing parent directories are made."""
    off = partitions(image)["BPROOT"]
    files = dict(files or {})
    files["/usr/local/sbin/borderpost-probe"] = probe_script(image.parent, arch)
    files["/etc/systemd/system/borderpost-probe.service"] = GUEST / "borderpost-probe.service"
    if emulated:
        drop_in = image.parent / "emulator.conf"
        drop_in.write_text(emulator_drop_in(SLOWDOWN[arch]))
        for unit in ("borderpost-station", "borderpost-uplink"):
            files[f"/etc/systemd/system/{unit}.service.d/zz-emulator.conf"] = drop_in
    dirs = sorted({str(Path(g).parent) for g in files})
    existing = {d for d in dirs if "File not found" not in _debugfs(image, off, [f"stat {d}"])}
    cmds = [f"mkdir {d}" for d in dirs if d not in existing]
    for guest, host in files.items():
        mode = "0100755" if guest.startswith("/usr/local/sbin/") else "0100644"
        cmds += [f"write {host} {guest}", f"sif {guest} mode {mode}"]
    cmds.append("symlink /etc/systemd/system/multi-user.target.wants/borderpost-probe.service "
                "/etc/systemd/system/borderpost-probe.service")
    err = _debugfs(image, off, cmds)
    if "rror" in err:
        raise RuntimeError(f"debugfs: {err.strip()}")


def fsck_clean(image: Path) -> dict[str, str]:
    """e2fsck -fn on the root and data partitions of a powered-off image: '' when clean, else its report."""
    report = {}
    for name, off in partitions(image).items():
        if name in ("BPBOOT", "BPROOT_B"):   # FAT; slot B is empty until the first update
            continue
        out = subprocess.run(["e2fsck", "-fn", f"{image}?offset={off}"], capture_output=True, text=True)
        report[name] = "" if out.returncode == 0 else (out.stdout + out.stderr).strip()[-400:]
    return report


# The host's CPU model without IA32_ARCH_CAPABILITIES: nested KVM hosts refuse that MSR and QEMU aborts.
KVM_CPU = "host,-arch-capabilities"


def kvm_usable() -> bool:
    """KVM that really runs the firmware for a few seconds: some nested hosts open /dev/kvm but abort on an MSR
    or stop with "KVM internal error" (emulation failure) in OVMF."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        out = subprocess.run(["qemu-system-x86_64", "-enable-kvm", "-cpu", KVM_CPU, "-machine", "q35", "-m", "256",
                              "-display", "none", "-nodefaults", "-drive",
                              f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}"],
                             capture_output=True, text=True, timeout=4)
        return False if out.returncode else "error" not in out.stderr.lower()
    except subprocess.TimeoutExpired as running:
        err = running.stderr.decode() if isinstance(running.stderr, bytes) else (running.stderr or "")
        return "error" not in err.lower()


@dataclass
class Vm:
    """One QEMU run of IMAGE; `events` collects the probe's lines as (seconds since start, key, rest)."""

    image: Path
    workdir: Path
    broker_port: int
    memory_mb: int = 1536
    extra_drives: list[Path] = field(default_factory=list)   # more virtio disks (e.g. an update bundle)
    arch_: str = ""                                             # amd64 | arm64; default: image_arch(image)
    proc: subprocess.Popen | None = None
    started: float = 0.0
    events: list[tuple[float, str, str]] = field(default_factory=list)
    _pos: int = 0

    @property
    def console(self) -> Path:
        return self.workdir / "console.log"

    @property
    def arch(self) -> str:
        return self.arch_ or image_arch(self.image)

    @property
    def slowdown(self) -> float:
        return SLOWDOWN[self.arch]

    def command(self, kvm: bool) -> list[str]:
        """QEMU's command line: q35 with OVMF (amd64) or virt with the slot's kernel (arm64, TCG only)."""
        relay = f"cmd:{sys.executable} {RELAY} 127.0.0.1 {self.broker_port}"
        common = ["-m", str(self.memory_mb), "-smp", "2", "-display", "none", "-nodefaults", "-no-reboot",
                  "-drive", f"file={self.image},format=raw,if=virtio,cache=unsafe",
                  *[a for d in self.extra_drives for a in ("-drive", f"file={d},format=raw,if=virtio")],
                  "-netdev", f"user,id=n0,guestfwd=tcp:{BROKER_GUEST_IP}:8883-{relay}",
                  "-device", "virtio-net-pci,netdev=n0",
                  "-serial", f"file:{self.console}"]
        if self.arch == "arm64":
            kernel, initrd, cmdline = extract_arm64_boot(self.image, self.workdir)
            return ["qemu-system-aarch64", "-machine", "virt", "-cpu", ARM64_CPU, "-accel", "tcg,thread=multi",
                    "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline, *common]
        vars_ = self.workdir / "OVMF_VARS.fd"
        if not vars_.exists():
            shutil.copy(OVMF_VARS, vars_)
        accel = ["-enable-kvm", "-cpu", KVM_CPU] if kvm else ["-accel", "tcg,thread=multi", "-cpu", "max"]
        return ["qemu-system-x86_64", "-machine", "q35", *accel,
                "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,file={vars_}", *common]

    def start(self, kvm: bool) -> Vm:
        args = self.command(kvm and self.arch == "amd64")
        if self.console.exists() and self.console.stat().st_size:   # keep each boot's console (update test: 4)
            self.console.rename(self.workdir / f"console.{len(list(self.workdir.glob('console.*.log'))) + 1}.log")
        self.console.write_bytes(b"")
        self._pos = 0
        self.events = []
        self.started = time.monotonic()
        with open(self.workdir / "qemu.err", "wb") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        return self

    def poll_lines(self) -> None:
        data = self.console.read_bytes()
        end = data.rfind(b"\n") + 1
        chunk, self._pos = data[self._pos:end], max(self._pos, end)
        for raw in chunk.decode("utf-8", "replace").splitlines():
            m = PROBE.search(raw)
            if m:
                self.events.append((time.monotonic() - self.started, m.group(1), m.group(2).strip()))

    def wait_for(self, key: str, timeout: float, fail_on: str = "") -> tuple[float, str]:
        """The first probe line KEY (seconds since start, rest of the line); fails on timeout, QEMU exiting, or a
        probe line FAIL_ON (the probe saying what went wrong). TIMEOUT is amd64's, scaled by the slowdown."""
        timeout *= self.slowdown
        end = time.monotonic() + timeout
        while True:
            self.poll_lines()
            for ev in self.events:
                if ev[1] == key:
                    return ev[0], ev[2]
                if fail_on and ev[1] == fail_on:
                    raise AssertionError(f"guest: {ev[1]} {ev[2]}\n{self.tail()}")
            if self.proc is not None and self.proc.poll() is not None:
                self.poll_lines()
                raise RuntimeError(f"QEMU exited before '{key}':\n{self.tail()}")
            if time.monotonic() > end:
                raise TimeoutError(f"no '{key}' from the guest in {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    def values(self, key: str) -> list[str]:
        self.poll_lines()
        return [rest for _, k, rest in self.events if k == key]

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.console.read_text("utf-8", "replace").splitlines()[-lines:])

    def power_cut(self) -> None:
        """SIGKILL: nothing flushed, like pulling the plug (cache=unsafe drops nothing already written)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
