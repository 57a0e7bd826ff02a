"""Boot-order decisions of the image's units, checked at the unit-file level (the QEMU tests exercise them for real:
tests/appliance/test_image_boot.py asserts the provisioned hostname after the power-cut reboot,
tests/appliance/test_image_update.py the fallback of a release whose station cannot start).

1. The provisioned hostname: /etc/hostname is a symlink into /etc/borderpost (on the data partition), which
   systemd reads before that is mounted; borderpost-hostname.service applies the stored name once it is.
2. The station's restart limit and the A/B update health check: the station's reboot after 8 failed starts
   must come after the health check's verdict (which marks a release on trial bad and reboots into the good
   slot), never race it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
OVERLAY_UNITS = REPO / "image_build/overlay/etc/systemd/system"
RAUC = REPO / "image_build/rauc"


def unit(path: Path) -> dict[str, list[str]]:
    """A unit file as key -> values (every section; list-valued keys split on whitespace, repeated keys joined)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out.setdefault(key.strip(), []).extend(value.split() if key.strip() not in ("ExecStart",) else [value])
    return out


# --- 1. the hostname -------------------------------------------------------------------------------------------

def test_hostname_unit_runs_after_etc_borderpost_is_mounted_and_before_the_network() -> None:
    u = unit(OVERLAY_UNITS / "borderpost-hostname.service")
    assert "etc-borderpost.mount" in u["After"] and "/etc/borderpost" in u["RequiresMountsFor"]
    for later in ("network-pre.target", "systemd-networkd.service", "sysinit.target", "borderpost-firstboot.service"):
        assert later in u["Before"], later
    assert u["DefaultDependencies"] == ["no"] and u["ConditionPathExists"] == ["/etc/borderpost/hostname"]
    assert u["WantedBy"] == ["sysinit.target"]
    # enabled by the image build (the root is read-only at run time: the link is made at build time)
    assert "borderpost-hostname.service" in (REPO / "image_build/scripts/customize.sh").read_text()
    # etc-borderpost.mount itself runs before sysinit (no ordering cycle through the new unit)
    mount = unit(OVERLAY_UNITS / "etc-borderpost.mount")
    assert "local-fs.target" in mount["Before"] and "borderpost-hostname.service" not in mount.get("After", [])


def systemd_command(line: str, replace: dict[str, str]) -> list[str]:
    """ExecStart= as systemd would run it: `$$` and `%%` unescaped, quotes split; paths swapped for test ones."""
    assert "%" not in line.replace("%%", ""), "an unescaped systemd specifier"
    assert re.search(r"(?<!\$)\$(?!\$)", line) is None, "a $VAR systemd would substitute"
    line = line.replace("$$", "$").replace("%%", "%")
    for a, b in replace.items():
        line = line.replace(a, b)
    import shlex
    return shlex.split(line)


@pytest.mark.parametrize("stored, applied", [("bp-post-7-kiosk-01\n", "bp-post-7-kiosk-01"),
                                             ("bp-post-7-kiosk-01", "bp-post-7-kiosk-01"),
                                             ("", None)])
def test_hostname_unit_command_writes_the_stored_name(tmp_path: Path, stored: str, applied: str | None) -> None:
    """The unit's own command line (systemd's escapes undone), run with the file and /proc swapped for test
    files: the stored name is written without its newline; an empty file writes nothing and fails."""
    src, dst = tmp_path / "hostname", tmp_path / "kernel_hostname"
    src.write_text(stored)
    dst.write_text("localhost")
    cmd = systemd_command(unit(OVERLAY_UNITS / "borderpost-hostname.service")["ExecStart"][0],
                          {"/etc/borderpost/hostname": str(src), "/proc/sys/kernel/hostname": str(dst)})
    rc = subprocess.run(cmd, check=False).returncode
    if applied is None:
        assert rc != 0 and dst.read_text() == "localhost"
    else:
        assert rc == 0 and dst.read_text() == applied


# --- 2. the station's restart limit vs the update health check ----------------------------------------------------

def test_station_restart_limit_does_not_reboot_by_itself() -> None:
    """StartLimitAction=reboot would reboot the moment the 8th start fails, whatever the health check is doing."""
    st = unit(UNITS / "borderpost-station.service")
    assert st.get("StartLimitAction", ["none"]) == ["none"], st["StartLimitAction"]
    assert st["StartLimitBurst"] == ["8"] and st["StartLimitIntervalSec"] == ["10min"]
    assert st["Restart"] == ["always"]
    assert st["OnFailure"] == ["borderpost-station-limit.service"]
    # the other units have no reboot action of their own either
    for f in [*UNITS.glob("*.service"), *OVERLAY_UNITS.glob("*.service"), *RAUC.glob("*.service")]:
        if f.name != "borderpost-station-limit.service":
            u = unit(f)
            for key in ("StartLimitAction", "FailureAction", "SuccessAction"):
                assert u.get(key, ["none"]) == ["none"], (f.name, key)


def test_station_limit_reboot_waits_for_the_health_checks_verdict() -> None:
    limit = unit(UNITS / "borderpost-station-limit.service")
    health = unit(RAUC / "borderpost-health.service")
    # ordered after the health check: its start job (oneshot: the whole check) ends before the reboot begins
    assert "borderpost-health.service" in limit["After"]
    # ... ordering only: a failed health check (no good slot to fall back to) still lets the station's reset happen
    for key in ("Requires", "Requisite", "BindsTo", "Wants"):
        assert "borderpost-health.service" not in limit.get(key, []), key
    assert limit["SuccessAction"] == ["reboot"] and limit["FailureAction"] == ["reboot"]
    assert limit["Type"] == ["oneshot"] and "RemainAfterExit" not in limit
    # the health check is a oneshot that watches the station start (not ordered after it: no cycle, no wait)
    assert health["Type"] == ["oneshot"]
    assert not {"borderpost-station.service", "borderpost-station-limit.service"} & set(health.get("After", []))
    assert "borderpost-station-limit.service" not in health.get("Before", [])
    assert "boot-complete.target" in health["Before"] and health["RequiredBy"] == ["boot-complete.target"]


def test_health_check_gives_its_verdict_before_the_station_gives_up() -> None:
    """The check calls a Restart=always unit failed at MAX_RESTARTS restarts, fewer than the station's limit, and
    treats the "failed" state (limit hit) as a failure too: it always has a verdict by the time the limit
    unit runs."""
    script = (RAUC / "health-check").read_text()
    restarts = int(re.search(r"^MAX_RESTARTS=(\d+)$", script, re.M).group(1))
    assert restarts < int(unit(UNITS / "borderpost-station.service")["StartLimitBurst"][0])
    assert re.search(r"failed\) return 1", script)
    # the slot is marked bad in the boot loader before the reboot is asked for
    assert script.index('set-state "$booted" bad') < script.index("systemctl --no-block reboot")
    # the health check's own time limit bounds how long the station's reset may wait
    timeout = unit(RAUC / "borderpost-health.service")["TimeoutStartSec"][0]
    assert timeout.endswith("min") and int(timeout[:-3]) <= 15


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd (apt: systemd)")
def test_units_verify_together(tmp_path: Path) -> None:
    """systemd-analyze verify on the station, its limit unit, the hostname unit and the health check side by side."""
    root = tmp_path / "root"
    subprocess.run([str(REPO / "image_build/scripts/assemble-overlay.sh"), str(root)], check=True)
    for unit_dir in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if unit_dir.is_dir():
            shutil.copytree(unit_dir, root / "usr/lib/systemd/system", symlinks=True, dirs_exist_ok=True,
                            ignore=lambda d, names: [n for n in names if n.startswith("borderpost")])
            break
    for u in ("borderpost-health.service", "borderpost-mark-good.service"):
        shutil.copy(RAUC / u, root / "etc/systemd/system" / u)
    for stub in ("/opt/borderpost/venv/bin/borderpost", "/usr/lib/borderpost/rauc/health-check", "/usr/bin/rauc",
                 "/usr/bin/mkdir", "/usr/bin/chmod", "/bin/echo", "/bin/sh"):
        p = root / stub.lstrip("/")
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("#!/bin/sh\n")
            p.chmod(0o755)
    units = ["usr/lib/systemd/system/borderpost-station.service",
             "usr/lib/systemd/system/borderpost-station-limit.service",
             "etc/systemd/system/borderpost-hostname.service", "etc/systemd/system/borderpost-health.service",
             "etc/systemd/system/borderpost-mark-good.service"]
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", *units], cwd=root,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
