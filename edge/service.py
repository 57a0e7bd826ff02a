"""Run a long-lived service body under systemd: READY once its main loop turns, watchdog pings from that loop.

The body calls `heartbeat()` from its main loop only while healthy; if the loop hangs (a stuck device
read), pings stop and systemd restarts the service (`WatchdogSec=`). Outside systemd this is a no-op.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from edge import sdnotify

log = logging.getLogger("borderpost.service")

# Each start-up step (imports, store, devices, lane, UI) may take this long from the end of the previous one.
# A Raspberry Pi 4 needs a few seconds for the whole start; the unit may raise it (an emulator is ~40x slower).
START_STEP_ENV = "BORDERPOST_START_STEP_SEC"
START_STEP_DEFAULT = 60.0


def start_step_seconds() -> float:
    try:
        value = float(os.environ.get(START_STEP_ENV, ""))
    except ValueError:
        return START_STEP_DEFAULT
    return value if value > 0 else START_STEP_DEFAULT


def starting(step: str) -> None:
    """Start-up progress for systemd: STATUS names the step and EXTEND_TIMEOUT_USEC grants it its own time, so a
    slow board that is still progressing is not killed by TimeoutStartSec, while a step that hangs still is."""
    sdnotify.notify_extend_timeout(start_step_seconds(), f"starting: {step}")


class Heartbeat:
    """Called once per healthy main-loop iteration: the first call says READY=1, then rate-limited pings."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pinger = sdnotify.WatchdogPinger()
        self._ready = False

    def __call__(self) -> None:
        if not self._ready:
            sdnotify.notify_ready(f"{self.name} running")
            self._ready = True
        self.pinger.tick(healthy=True)

    def status(self, text: str) -> None:
        sdnotify.notify_status(text)


def run_service(name: str, body: Callable[[Heartbeat], None], stop: threading.Event) -> None:
    log.info("%s starting", name)
    try:
        body(Heartbeat(name))
    finally:
        stop.set()
        sdnotify.notify_stopping()
        log.info("%s stopped", name)
