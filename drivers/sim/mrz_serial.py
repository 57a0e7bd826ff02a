"""Device-side simulator for `mrz_serial`: a pseudo-terminal that speaks a reader profile's exact bytes.

The backend is given a stable symlink inside a temp dir the simulator owns; `unplug()` removes the link
and closes the pty (the backend sees EIO and cannot reopen), `replug()` makes a new pty behind the
same link, as udev does for a reader plugged back in. Fault injection for tests: `present(split=...)`
writes in small pieces, `write_raw()` sends line noise or a binary blob, `present_partial()` then
`unplug()` is a reader unplugged mid-MRZ.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from drivers.backends.mrz_serial import MrzSerialConfig


@dataclass(frozen=True)
class Wire:
    """What one reader family puts on the wire, written down from its manual, independently of the decoder."""

    before: bytes = b""          # once, before the first line
    line_end: bytes = b"\r"
    after: bytes = b""           # once, after the last line's terminator
    init: bytes = b""            # the host's enable command; nothing is sent before it
    init_ack: bytes = b""
    times: int = 1               # swipe readers send each read twice


# Byte for byte what the reader families of docs/devices.md send (tests/drivers/golden_mrz.py holds examples).
WIRE: dict[str, Wire] = {
    "cr": Wire(line_end=b"\r", after=b"\r"),
    "crlf": Wire(line_end=b"\r\n", after=b"\r\n"),
    "stx_etx": Wire(before=b"\x02", line_end=b"\r", after=b"\x03"),
    "prefix_suffix": Wire(before=b"MRZ:", line_end=b"\r\n", after=b"#\r\n"),
    "init": Wire(line_end=b"\r", after=b"\r", init=b"\x1bE\r", init_ack=b"\x06\r"),
    "swipe_twice": Wire(line_end=b"\r\n", after=b"\r\n", times=2),
}


def wire_bytes(wire: Wire, lines: list[str]) -> bytes:
    one = wire.before + b"".join(ln.encode("ascii", "replace") + wire.line_end for ln in lines) + wire.after
    return one * wire.times


class MrzReaderSim:
    def __init__(self, config: MrzSerialConfig) -> None:
        self.profile = WIRE[config.profile]
        self._dir = Path(tempfile.mkdtemp(prefix="borderpost-mrz-"))
        self.link = self._dir / "mrz0"
        self.config = config.model_copy(update={"port": str(self.link)})
        self._master: int | None = None
        self._slave: int | None = None
        self._lock = threading.Lock()
        self.received = bytearray()   # what the host wrote (init commands)
        self._drain: threading.Thread | None = None
        self._enabled = threading.Event()    # profiles with an init command send nothing before it
        self.replug()

    # -- the device node ------------------------------------------------------------------------
    def replug(self) -> None:
        with self._lock:
            self._close_pty()
            self._enabled.clear()
            if not self.profile.init:
                self._enabled.set()
            master, slave = os.openpty()
            tty.setraw(slave)
            self._master, self._slave = master, slave
            tmp = self.link.with_suffix(".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(os.ttyname(slave))
            tmp.replace(self.link)
        self._drain = threading.Thread(target=self._read_host, args=(master,), daemon=True)
        self._drain.start()

    def unplug(self) -> None:
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self._close_pty()

    def close(self) -> None:
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- what the reader sends ------------------------------------------------------------------
    def present(self, lines: list[str], split: int | None = None, gap: float = 0.002) -> None:
        """One document as the reader sends it; `split` = write in pieces of that many bytes.

        A reader whose output the host has not enabled yet (profile `init`) drops the read, as real ones do.
        """
        if not self._enabled.wait(timeout=3.0):
            return
        self.write_raw(wire_bytes(self.profile, lines), split=split, gap=gap)

    def present_partial(self, lines: list[str], fraction: float = 0.5) -> None:
        """The first `fraction` of a document's bytes (then `unplug()` for a reader pulled mid-MRZ)."""
        if not self._enabled.wait(timeout=3.0):
            return
        data = wire_bytes(self.profile, lines)
        self.write_raw(data[: int(len(data) * fraction)])

    def write_raw(self, data: bytes, split: int | None = None, gap: float = 0.002) -> None:
        with self._lock:
            if self._master is None:
                return      # unplugged: the bytes go nowhere, like a reader with no cable
            step = split or len(data) or 1
            for i in range(0, len(data), step):
                os.write(self._master, data[i:i + step])
                if split:
                    time.sleep(gap)

    # -- internals -------------------------------------------------------------------------------
    def _read_host(self, master: int) -> None:
        while True:
            try:
                chunk = os.read(master, 256)
            except OSError:
                return
            if not chunk:
                return
            self.received.extend(chunk)
            if self.profile.init and self.profile.init in bytes(self.received):
                self.received.clear()
                with self._lock, contextlib.suppress(OSError):
                    os.write(master, self.profile.init_ack)
                    self._enabled.set()

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None


def start(config: MrzSerialConfig) -> MrzReaderSim:
    return MrzReaderSim(config)
