"""pcscd with vsmartcard's virtual reader for the chip tests, and the test card as its own process.

A pcscd already serving the machine is used as it is (its /etc/reader.conf.d/vpcd names the port);
otherwise one is started in the foreground with a private reader configuration on free ports, and
stopped afterwards. Every wait has a deadline: a missing or stuck pcscd fails a test, never hangs it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from drivers.backends.chip_pcsc import CardGone, PcscContext, list_readers

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
READER = "Virtual PCD 00 00"
REPO = Path(__file__).resolve().parents[2]


def missing() -> str | None:
    """Why the chip tests cannot run here (None when they can)."""
    if shutil.which("pcscd") is None:
        return "pcscd is not installed (apt-get install pcscd)"
    if not VPCD_DRIVER.exists():
        return "vsmartcard's vpcd driver is not installed (apt-get install vsmartcard-vpcd)"
    return None


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        if port < 65000:
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no free port pair for vpcd")


@dataclass
class Pcsc:
    reader: str
    port: int
    process: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _running_config_dir() -> Path:
    """The reader.conf.d of the pcscd that runs (its -c/--config argument, else the system's)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if not args or Path(args[0].decode(errors="replace")).name != "pcscd":
            continue
        for i, a in enumerate(args[:-1]):
            if a in (b"-c", b"--config"):
                return Path(args[i + 1].decode())
    return SYSTEM_VPCD_CONF.parent


def _system_port() -> int:
    """vpcd's port for "Virtual PCD 00 00" in the running pcscd's configuration."""
    for conf in sorted(_running_config_dir().glob("*")):
        try:
            text = conf.read_text(errors="replace")
        except OSError:
            continue
        if "libifdvpcd" in text:
            m = re.search(r"DEVICENAME\s+\S*:(0x[0-9A-Fa-f]+|\d+)", text)
            if m:
                return int(m.group(1), 0)
    return 35963


def start(workdir: Path, deadline_s: float = 15.0) -> Pcsc:
    """Use the running pcscd or start one; return the virtual reader's name and vpcd's port."""
    names = list_readers()
    if names or (Path("/run/pcscd/pcscd.comm").exists() and _answers()):
        if READER not in names:
            raise RuntimeError(f"a pcscd runs here but offers no {READER!r} (readers: {names}); "
                               "install vsmartcard-vpcd and restart pcscd")
        return Pcsc(READER, _system_port())
    port = _free_port_pair()
    conf = workdir / "reader.conf.d"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "vpcd").write_text(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{port:04X}\n'
                               f"LIBPATH {VPCD_DRIVER}\nCHANNELID 0x{port:04X}\n")
    log = (workdir / "pcscd.log").open("wb")
    proc = subprocess.Popen(["pcscd", "--foreground", "--config", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"pcscd exited with {proc.returncode}; see {workdir / 'pcscd.log'}")
        if READER in list_readers():
            return Pcsc(READER, port, proc)
        time.sleep(0.1)
    Pcsc(READER, port, proc).stop()
    raise RuntimeError(f"pcscd did not offer {READER!r} within {deadline_s} s")


def _answers() -> bool:
    try:
        PcscContext().release()
        return True
    except CardGone:
        return False


def card_present(reader: str) -> bool:
    ctx = PcscContext()
    try:
        return ctx.card_present(reader)
    finally:
        ctx.release()


class Card:
    """The test passport running in its own process, connected to vpcd (in the field) until `remove()`."""

    def __init__(self, directory: Path, pcsc: Pcsc) -> None:
        self.directory = directory
        self.pcsc = pcsc
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.chip.card", str(directory),
                                      "--port", str(pcsc.port)], cwd=REPO,
                                     env={**os.environ, "PYTHONPATH": str(REPO)})
        self._wait(True)

    def _wait(self, present: bool, deadline_s: float = 10.0) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if card_present(self.pcsc.reader) == present:
                return
            if present and self.proc.poll() is not None:
                raise RuntimeError(f"the test card exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError(f"the card did not become {'present' if present else 'absent'} in {deadline_s} s")

    def events(self) -> list[str]:
        log = self.directory / "events.log"
        return log.read_text().split() if log.exists() else []

    def remove(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self._wait(False)
