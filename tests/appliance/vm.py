"""Boot a built appliance image in QEMU: a scratch copy of the disk, a provisioning bundle on its boot partition,
the test probe in its root, the serial console read line by line, power cut by killing QEMU.

Disk edits need no loop device and no root: mtools writes the FAT boot partition and debugfs the ext4 root, both
at the partition's byte offset inside the image.
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


# Test-only files written into the scratch copy's root beside the probe: guest path -> host path.
ProbeFiles = dict[str, Path]

# QEMU's TCG emulates the CPU ~40x slower than this host. The interpreter's start and imports, before a service
# can report progress, take the uplink 40-60 s of its 60 s there (a few seconds on a board), so TimeoutStartSec
# grows to ten minutes; each later start-up step (EXTEND_TIMEOUT_USEC) gets ten minutes instead of one, the
# watchdog five instead of 30-60 s, and an auto-mode crossing an hour of fed watchdog instead of five minutes.
EMULATOR_DROP_IN = """[Service]
TimeoutStartSec=10min
Environment=BORDERPOST_START_STEP_SEC=600 BORDERPOST_BUSY_SEC=3600
WatchdogSec=5min
"""


def _debugfs(image: Path, offset: int, commands: list[str]) -> str:
    out = subprocess.run(["debugfs", "-w", "-f", "-", f"{image}?offset={offset}"], input="\n".join(commands) + "\n",
                         text=True, capture_output=True, check=True)
    return out.stderr


def install_probe(image: Path, files: ProbeFiles | None = None, emulated: bool = False) -> None:
    """Write the test probe (script, unit, enablement link), FILES and, under TCG, the emulator drop-ins into the
    image's root filesystem. Missing parent directories are made."""
    off = partitions(image)["BPROOT"]
    files = dict(files or {})
    files["/usr/local/sbin/borderpost-probe"] = GUEST / "probe.sh"
    files["/etc/systemd/system/borderpost-probe.service"] = GUEST / "borderpost-probe.service"
    if emulated:
        drop_in = image.parent / "emulator.conf"
        drop_in.write_text(EMULATOR_DROP_IN)
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
    proc: subprocess.Popen | None = None
    started: float = 0.0
    events: list[tuple[float, str, str]] = field(default_factory=list)
    _pos: int = 0

    @property
    def console(self) -> Path:
        return self.workdir / "console.log"

    def start(self, kvm: bool) -> Vm:
        vars_ = self.workdir / "OVMF_VARS.fd"
        if not vars_.exists():
            shutil.copy(OVMF_VARS, vars_)
        relay = f"cmd:{sys.executable} {RELAY} 127.0.0.1 {self.broker_port}"
        args = ["qemu-system-x86_64", "-machine", "q35", "-m", str(self.memory_mb), "-smp", "2",
                "-display", "none", "-nodefaults", "-no-reboot",
                "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,file={vars_}",
                "-drive", f"file={self.image},format=raw,if=virtio,cache=unsafe",
                *[a for d in self.extra_drives for a in ("-drive", f"file={d},format=raw,if=virtio")],
                "-netdev", f"user,id=n0,guestfwd=tcp:{BROKER_GUEST_IP}:8883-{relay}",
                "-device", "virtio-net-pci,netdev=n0",
                "-serial", f"file:{self.console}"]
        args += ["-enable-kvm", "-cpu", KVM_CPU] if kvm else ["-accel", "tcg,thread=multi", "-cpu", "max"]
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
        probe line FAIL_ON (the probe saying what went wrong)."""
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
