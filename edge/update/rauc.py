"""The `rauc` command line, wrapped: install with progress, status and bundle info as JSON, clear errors.

Parsing is pure (parse_progress, summarize_status, classify_error); the subprocess calls are at the edges.
`rauc install` talks to the RAUC service over D-Bus, which needs the device's /etc/rauc/system.conf; bundles
are verified there (signature, compatible string, dm-verity) before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_FAIL = 1
EXIT_USAGE = 2
PROGRESS = re.compile(r"^\s*(\d{1,3})%\s+(.*?)\s*$")
# What makes a bundle unusable (bad input, exit 2) rather than an install that failed on this system (exit 1).
BAD_BUNDLE = re.compile(r"signature|verif|compatible|not a (valid )?bundle|manifest|bundle format|keyring|"
                        r"squashfs|magic|certificate|too small", re.IGNORECASE)


class UpdateError(Exception):
    """A one-line reason, and the exit code it deserves (2: bad bundle or input, 1: the system failed)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Progress:
    percent: int
    message: str


def rauc_binary() -> str:
    """`rauc` from PATH, or BORDERPOST_RAUC: a clear error when RAUC is not installed."""
    path = os.environ.get("BORDERPOST_RAUC") or shutil.which("rauc")
    if not path:
        raise UpdateError("rauc is not installed (apt-get install rauc rauc-service)", EXIT_USAGE)
    return path


def parse_progress(line: str) -> Progress | None:
    """One progress line of `rauc install` ("  40% Copying image to rootfs.1"), or None for other lines."""
    m = PROGRESS.match(line)
    if not m or int(m.group(1)) > 100:
        return None
    return Progress(int(m.group(1)), m.group(2))


def classify_error(output: str) -> UpdateError:
    """The useful line of a failed rauc run (its LastError or last error line), with its exit code."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    wanted = [ln for ln in lines if ln.startswith("LastError:")] or \
             [ln for ln in lines if "rror" in ln or "failed" in ln.lower()] or lines[-1:] or ["rauc failed"]
    message = wanted[-1].removeprefix("LastError:").strip()
    message = re.sub(r"^(rauc-)?(error|Error|ERROR|\*\* \(rauc:\d+\): \w+ \*\*: [\d:.]+):?\s*", "", message)
    return UpdateError(f"rauc: {message[:300]}", EXIT_USAGE if BAD_BUNDLE.search(message) else EXIT_FAIL)


def install(bundle: Path, on_progress: Callable[[Progress], None] | None = None, *,
            timeout: float = 3600.0) -> list[Progress]:
    """Install BUNDLE into the other slot (it becomes the primary: the next boot tries it). Raises UpdateError."""
    if not bundle.is_file():
        raise UpdateError(f"{bundle}: no such bundle file", EXIT_USAGE)
    cmd = [rauc_binary(), "install", str(bundle.resolve())]
    seen: list[Progress] = []
    lines: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                          env={**os.environ, "LC_ALL": "C"}) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            p = parse_progress(line)
            if p is not None and (not seen or p != seen[-1]):
                seen.append(p)
                if on_progress is not None:
                    on_progress(p)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise UpdateError(f"rauc install did not finish in {timeout:.0f} s") from None
    if code != 0:
        raise classify_error("".join(lines))
    return seen


def _run_json(args: list[str]) -> Any:
    out = subprocess.run([rauc_binary(), *args], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    if out.returncode != 0:
        raise classify_error(out.stderr + out.stdout)
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise UpdateError(f"rauc {args[0]}: output is not JSON") from None


def status() -> dict[str, Any]:
    """`rauc status` of this system, summarised (summarize_status)."""
    return summarize_status(_run_json(["status", "--detailed", "--output-format=json"]))


def info(bundle: Path, keyring: Path | None = None) -> dict[str, Any]:
    """A bundle's manifest after checking its signature (against KEYRING, else the system's keyring)."""
    if not bundle.is_file():
        raise UpdateError(f"{bundle}: no such bundle file", EXIT_USAGE)
    args = ["info", "--output-format=json"]
    if keyring is not None:
        args.append(f"--keyring={keyring}")
    return _run_json([*args, str(bundle.resolve())])


def mark(state: str, slot: str = "booted") -> str:
    """`rauc status mark-good|mark-bad|mark-active SLOT` (booted, other or a slot name)."""
    if state not in ("good", "bad", "active"):
        raise UpdateError(f"cannot mark a slot {state!r}", EXIT_USAGE)
    out = subprocess.run([rauc_binary(), "status", f"mark-{state}", slot], capture_output=True, text=True,
                         env={**os.environ, "LC_ALL": "C"})
    if out.returncode != 0:
        raise classify_error(out.stderr + out.stdout)
    return (out.stdout.strip().splitlines() or [""])[-1]


def summarize_status(raw: dict[str, Any]) -> dict[str, Any]:
    """The parts of `rauc status --output-format=json` a technician and the agency read: which slot runs, which
    boots next, each root slot's boot state ("good"/"bad") and installed bundle version."""
    slots = []
    for item in raw.get("slots") or []:
        for name, slot in (item.items() if isinstance(item, dict) else []):
            st = slot.get("slot_status") or {}
            bundle = st.get("bundle") or {}
            installed = st.get("installed") or {}
            slots.append({
                "name": name, "bootname": slot.get("bootname"), "device": slot.get("device"),
                "state": slot.get("state"), "boot_status": slot.get("boot_status"),
                "version": bundle.get("version"), "installed_at": installed.get("timestamp"),
                "status": st.get("status"),
            })
    return {"compatible": raw.get("compatible"), "booted": raw.get("booted"),
            "boot_primary": raw.get("boot_primary"), "slots": slots}
