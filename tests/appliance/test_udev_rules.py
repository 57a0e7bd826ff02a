"""The udev rules, parsed and evaluated against device descriptions (udevadm 252 has no `verify`, and
`udevadm test` needs the real device): a small evaluator for the subset of the rules language we use, which
first checks that every line uses only that subset, so a rule it cannot judge fails the test."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "systemd/udev/70-borderpost.rules"
_TOKEN = re.compile(r'\s*([A-Z_]+)(?:\{([^}]+)\})?\s*(==|!=|\+=|:=|=)\s*"([^"]*)"\s*(?:,|$)')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "ATTR", "ATTRS", "ENV"}
ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "SYMLINK", "GOTO", "LABEL"}


def parse(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pos, tokens = 0, []
        while pos < len(line):
            m = _TOKEN.match(line, pos)
            assert m, f"line {n}: cannot parse at {line[pos:]!r}"
            key, attr, op, value = m.groups()
            if op in ("==", "!="):
                assert key in MATCH_KEYS, f"line {n}: {key} cannot be matched here"
            else:
                assert key in ASSIGN_KEYS, f"line {n}: {key} cannot be assigned here"
            tokens.append((key, attr, op, value))
            pos = m.end()
        rules.append(tokens)
    return rules


@dataclass
class Dev:
    subsystem: str
    kernel_number: str = "0"
    action: str = "add"
    attrs: dict[str, str] = field(default_factory=dict)     # the device's own sysfs attributes
    parents: dict[str, str] = field(default_factory=dict)   # attributes found walking up (ATTRS)
    env: dict[str, str] = field(default_factory=dict)
    group: str = "root"
    mode: str = "0600"
    symlinks: list[str] = field(default_factory=list)


def evaluate(rules, dev: Dev) -> Dev:
    labels = {r[0][3]: i for i, r in enumerate(rules) if r[0][0] == "LABEL"}
    for goto in (t[3] for r in rules for t in r if t[0] == "GOTO"):
        assert goto in labels, f"GOTO {goto} has no LABEL"
    i = 0
    while i < len(rules):
        rule = rules[i]
        i += 1
        if rule[0][0] == "LABEL":
            continue
        ok = True
        for key, attr, op, value in rule:
            if op not in ("==", "!="):
                continue
            actual = {"ACTION": dev.action, "SUBSYSTEM": dev.subsystem}.get(key)
            if key == "ATTR":
                actual = dev.attrs.get(attr)
            elif key == "ATTRS":
                actual = dev.attrs.get(attr, dev.parents.get(attr))
            elif key == "ENV":
                actual = dev.env.get(attr, "")
            hit = actual is not None and fnmatch.fnmatchcase(actual, value)
            if hit != (op == "=="):
                ok = False
                break
        if not ok:
            continue
        for key, attr, op, value in rule:
            if op in ("==", "!="):
                continue
            value = value.replace("%n", dev.kernel_number)
            value = re.sub(r"\$attr\{(\w+)\}", lambda m: dev.attrs.get(m.group(1), ""), value)
            if key == "ENV":
                dev.env[attr] = value
            elif key == "GROUP":
                dev.group = value
            elif key == "MODE":
                dev.mode = value
            elif key == "SYMLINK":
                dev.symlinks.append(value)
            elif key == "GOTO":
                i = labels[value]
    return dev


@pytest.fixture(scope="module")
def rules():
    return parse(RULES.read_text())


def _serial(vid: str, pid: str, **kw) -> Dev:
    return Dev("tty", kernel_number="0", parents={"idVendor": vid, "idProduct": pid}, **kw)


@pytest.mark.parametrize(("vid", "pid"), [("0403", "6001"), ("10c4", "ea60"), ("067b", "2303"), ("1a86", "7523"),
                                          ("0db5", "0139")])
def test_mrz_reader_named_grouped_and_hidden_from_modemmanager(rules, vid: str, pid: str) -> None:
    d = evaluate(rules, _serial(vid, pid))
    assert d.symlinks == ["borderpost/mrz0"]
    assert (d.group, d.mode) == ("borderpost", "0660")
    assert d.env["ID_MM_DEVICE_IGNORE"] == "1"


def test_unknown_serial_device_untouched(rules) -> None:
    d = evaluate(rules, _serial("1234", "5678"))
    assert (d.symlinks, d.group, d.mode) == ([], "root", "0600")
    assert "ID_MM_DEVICE_IGNORE" not in d.env


def test_fingerprint_sensor(rules) -> None:
    d = evaluate(rules, Dev("usb", attrs={"idVendor": "05ba", "idProduct": "000a", "busnum": "1", "devnum": "7"},
                            env={"DEVTYPE": "usb_device"}))
    assert d.symlinks == ["borderpost/finger-1-7"] and d.group == "borderpost" and d.mode == "0660"
    iface = evaluate(rules, Dev("usb", attrs={"idVendor": "05ba", "idProduct": "000a"},
                                env={"DEVTYPE": "usb_interface"}))
    assert iface.symlinks == []


def test_every_usb_id_a_backend_drives_is_reachable_by_the_service_user(rules) -> None:
    """The service runs without the dialout group and with DeviceAllow: a device the backend knows but the
    rules leave root-only would be 'permission denied' on the first real one."""
    from drivers.backends import _finger_uareu4000_wire as uru
    from drivers.backends.mrz_serial import KNOWN_USB_READERS

    for pid in uru.MODELS:
        d = evaluate(rules, Dev("usb", attrs={"idVendor": f"{uru.VENDOR_ID:04x}", "idProduct": f"{pid:04x}",
                                              "busnum": "1", "devnum": "2"}, env={"DEVTYPE": "usb_device"}))
        assert (d.env.get("BORDERPOST_ROLE"), d.group) == ("finger", "borderpost"), f"05ba:{pid:04x}"
    for (vid, pid) in KNOWN_USB_READERS:
        d = evaluate(rules, _serial(f"{vid:04x}", f"{pid if pid is not None else 0x1234:04x}"))
        assert (d.env.get("BORDERPOST_ROLE"), d.group) == ("mrz", "borderpost"), f"{vid:04x}"


def test_uvc_camera_capture_node_only(rules) -> None:
    uvc = {"ID_USB_INTERFACES": ":0e0100:0e0200:010100:", "ID_V4L_CAPABILITIES": ":capture:"}
    d = evaluate(rules, Dev("video4linux", kernel_number="0", env=dict(uvc)))
    assert d.symlinks == ["borderpost/camera0"] and d.group == "borderpost"
    meta = evaluate(rules, Dev("video4linux", kernel_number="1", env={**uvc, "ID_V4L_CAPABILITIES": ":"}))
    assert meta.symlinks == [] and meta.group == "root"


def test_libcamera_nodes_and_removal(rules) -> None:
    assert evaluate(rules, Dev("media")).group == "borderpost"
    assert evaluate(rules, Dev("dma_heap")).group == "borderpost"
    gone = evaluate(rules, _serial("0403", "6001", action="remove"))
    assert gone.symlinks == []


def test_every_named_device_is_grouped(rules) -> None:
    for rule in rules:
        keys = {t[0] for t in rule}
        if "SYMLINK" in keys:
            assert {"GROUP", "MODE"} <= keys
            assert all(t[3].startswith("borderpost/") for t in rule if t[0] == "SYMLINK")
