"""Run a long-lived service body under systemd: READY once started, watchdog pings from its main loop.

The body calls `heartbeat()` from its main loop only while healthy; if the loop hangs (a stuck device
read), pings stop and systemd restarts the service (`WatchdogSec=`). Outside systemd this is a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("borderpost.service")


def _sd():
    try:
        from edge import sdnotify
    except ImportError:
        return None
    return sdnotify


class Heartbeat:
    def __init__(self) -> None:
        self.sd = _sd()
        interval = self.sd.watchdog_interval() if self.sd else None
        self.every = interval / 2 if interval else None
        self._last = 0.0
        self._ready = False

    def __call__(self) -> None:
        if self.sd is None:
            return
        now = time.monotonic()
        if not self._ready:
            self.sd.notify_ready()
            self._ready = True
        if self.every is not None and now - self._last >= self.every:
            self.sd.watchdog_ping()
            self._last = now

    def status(self, text: str) -> None:
        if self.sd is not None:
            self.sd.notify_status(text)


def run_service(name: str, body: Callable[[Heartbeat], None], stop: threading.Event) -> None:
    hb = Heartbeat()
    log.info("%s starting", name)
    try:
        body(hb)
    finally:
        stop.set()
        log.info("%s stopped", name)
