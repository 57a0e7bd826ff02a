"""RAUC's custom boot loader backend for systemd-boot (image_build/rauc/bootloader-backend), run for real on an
ESP directory, with systemd-boot's side (pick an entry, count a try) modelled from its documented rules:
entries with no tries left sort last, then by sort-key ascending, then by id; booting an entry with a counter
renames +L-D to +(L-1)-(D+1)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[2] / "image_build" / "rauc" / "bootloader-backend"
COUNTER = re.compile(r"^(?P<id>.+?)(\+(?P<left>\d+)(-(?P<done>\d+))?)?\.conf$")


class Esp:
    def __init__(self, root: Path, booted: str = "A") -> None:
        self.root = root
        self.entries = root / "loader" / "entries"
        self.entries.mkdir(parents=True)
        self.cmdline = root / "cmdline"
        self.slot_b = root / "slot-b"
        (self.slot_b / "boot").mkdir(parents=True)
        (self.slot_b / "boot" / "vmlinuz-6.1.0-b").write_bytes(b"kernel B")
        (self.slot_b / "boot" / "initrd.img-6.1.0-b").write_bytes(b"initrd B")
        (self.slot_b / "vmlinuz").symlink_to("boot/vmlinuz-6.1.0-b")
        (self.slot_b / "initrd.img").symlink_to("boot/initrd.img-6.1.0-b")
        (self.slot_b / "etc").mkdir()
        (self.slot_b / "etc" / "os-release").write_text('VERSION_ID="12"\n')
        (self.entries / "borderpost-a.conf").write_text(
            "title   borderpost (A)\nlinux   /EFI/borderpost-a/vmlinuz\ninitrd  /EFI/borderpost-a/initrd.img\n"
            "options root=PARTLABEL=BPROOT ro rootwait fsck.repair=yes rauc.slot=A console=tty0 "
            "console=ttyS0,115200\nsort-key borderpost-0\n")
        self.set_booted(booted)

    def set_booted(self, slot: str) -> None:
        part = "BPROOT" if slot == "A" else "BPROOT_B"
        self.cmdline.write_text(f"BOOT_IMAGE=/x root=PARTLABEL={part} ro rauc.slot={slot}\n")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "BORDERPOST_ESP": str(self.root), "BORDERPOST_CMDLINE": str(self.cmdline),
               "BORDERPOST_SLOT_DIR_B": str(self.slot_b), "BORDERPOST_SLOT_DIR_A": str(self.root / "no-a")}
        return subprocess.run(["bash", str(BACKEND), *args], env=env, capture_output=True, text=True, check=check)

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def names(self) -> list[str]:
        return sorted(p.name for p in self.entries.glob("*.conf"))

    def firmware_boots(self) -> str:
        """systemd-boot: choose the first entry in its order, count the try, boot it (returns rauc.slot)."""
        entries = []
        for p in self.entries.glob("*.conf"):
            m = COUNTER.match(p.name)
            assert m, p.name
            left = int(m["left"]) if m["left"] is not None else None
            key = next((ln.split(None, 1)[1] for ln in p.read_text().splitlines() if ln.startswith("sort-key")), None)
            entries.append((left == 0, key is None, key or "", [-ord(c) for c in m["id"]], p, m, left))
        entries.sort(key=lambda e: e[:4])
        _, _, _, _, path, m, left = entries[0]
        if left is not None and left > 0:
            done = int(m["done"] or 0)
            path.rename(path.with_name(f"{m['id']}+{left - 1}-{done + 1}.conf"))
            path = path.with_name(f"{m['id']}+{left - 1}-{done + 1}.conf")
        slot = re.search(r"rauc\.slot=([AB])", path.read_text())[1]
        self.set_booted(slot)
        return slot


@pytest.fixture
def esp(tmp_path: Path) -> Esp:
    return Esp(tmp_path / "esp")


def install_b(esp: Esp) -> None:
    """What `rauc install` asks the backend while writing slot B from slot A."""
    esp.run("set-state", "B", "bad")
    esp.run("set-primary", "B")


def test_factory_state_a_is_primary_and_good_b_is_bad(esp: Esp) -> None:
    assert esp.out("get-primary") == "A"
    assert esp.out("get-state", "A") == "good" and esp.out("get-state", "B") == "bad"


def test_installing_b_writes_its_entry_with_three_tries_first_in_order(esp: Esp) -> None:
    install_b(esp)
    assert esp.names() == ["borderpost-a.conf", "borderpost-b+3.conf"]
    entry = (esp.entries / "borderpost-b+3.conf").read_text()
    assert "options root=PARTLABEL=BPROOT_B ro rootwait fsck.repair=yes console=tty0 console=ttyS0,115200 " \
           "rauc.slot=B" in entry
    assert "sort-key borderpost-0" in entry and "version 12" in entry
    assert "sort-key borderpost-1" in (esp.entries / "borderpost-a.conf").read_text()
    assert (esp.root / "EFI" / "borderpost-b" / "vmlinuz").read_bytes() == b"kernel B"
    assert (esp.root / "EFI" / "borderpost-b" / "initrd.img").read_bytes() == b"initrd B"
    assert esp.out("get-primary") == "B"


def test_good_path_b_boots_and_is_blessed(esp: Esp) -> None:
    install_b(esp)
    assert esp.firmware_boots() == "B"
    assert esp.names() == ["borderpost-a.conf", "borderpost-b+2-1.conf"]
    esp.run("set-state", "B", "good")             # rauc status mark-good booted, after boot-complete.target
    assert esp.names() == ["borderpost-a.conf", "borderpost-b.conf"]
    assert [esp.firmware_boots() for _ in range(3)] == ["B", "B", "B"]
    assert esp.out("get-primary") == "B" and esp.out("get-state", "B") == "good"


def test_a_b_that_never_completes_a_boot_falls_back_to_a_after_three_tries(esp: Esp) -> None:
    install_b(esp)
    assert [esp.firmware_boots() for _ in range(3)] == ["B", "B", "B"]
    assert "borderpost-b+0-3.conf" in esp.names()
    assert esp.firmware_boots() == "A"
    assert esp.out("get-state", "B") == "bad" and esp.out("get-primary") == "A"


def test_a_failed_health_check_marks_b_bad_and_the_next_boot_is_a(esp: Esp) -> None:
    install_b(esp)
    assert esp.firmware_boots() == "B"
    esp.run("set-state", "B", "bad")              # health-check: rauc status mark-bad booted
    assert esp.names() == ["borderpost-a.conf", "borderpost-b+0.conf"]
    assert esp.firmware_boots() == "A" and esp.firmware_boots() == "A"
    assert esp.out("get-primary") == "A"


def test_rollback_makes_a_primary_again_without_a_trial(esp: Esp) -> None:
    install_b(esp)
    esp.firmware_boots()
    esp.run("set-state", "B", "good")
    esp.run("set-primary", "A")                   # rauc status mark-active other, from B
    assert esp.firmware_boots() == "A"
    assert "borderpost-a.conf" in esp.names()     # A was good: no counter
    assert esp.out("get-primary") == "A"


def test_a_second_update_while_running_b_writes_a(esp: Esp, tmp_path: Path) -> None:
    install_b(esp)
    esp.firmware_boots()
    esp.run("set-state", "B", "good")
    # A's slot now gets the new system: set-state A bad, set-primary A (from A's files)
    slot_a = tmp_path / "slot-a"
    (slot_a / "boot").mkdir(parents=True)
    (slot_a / "boot" / "vmlinuz-2").write_bytes(b"kernel A2")
    (slot_a / "boot" / "initrd.img-2").write_bytes(b"initrd A2")
    (slot_a / "vmlinuz").symlink_to("boot/vmlinuz-2")
    (slot_a / "initrd.img").symlink_to("boot/initrd.img-2")
    esp.run("set-state", "A", "bad")
    assert esp.out("get-state", "A") == "bad"
    r = subprocess.run(["bash", str(BACKEND), "set-primary", "A"], capture_output=True, text=True, env={
        **os.environ, "BORDERPOST_ESP": str(esp.root), "BORDERPOST_CMDLINE": str(esp.cmdline),
        "BORDERPOST_SLOT_DIR_A": str(slot_a)})
    assert r.returncode == 0, r.stderr
    assert "borderpost-a+3.conf" in esp.names()
    assert "root=PARTLABEL=BPROOT ro" in (esp.entries / "borderpost-a+3.conf").read_text()
    assert esp.firmware_boots() == "A"


def test_bad_requests_fail_with_a_reason(esp: Esp) -> None:
    for args in (["set-state", "C", "good"], ["set-state", "A", "maybe"], ["frobnicate"]):
        r = esp.run(*args, check=False)
        assert r.returncode != 0 and "borderpost-bootloader:" in r.stderr
    empty = Esp(esp.root.parent / "empty")
    for p in empty.entries.iterdir():
        p.unlink()
    r = empty.run("get-primary", check=False)
    assert r.returncode != 0 and "no slot" in r.stderr
