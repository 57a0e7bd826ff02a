"""Run a long-lived service body under systemd: READY once its main loop turns, watchdog pings from that loop.

The body calls `heartbeat()` from its main loop only while healthy; if the loop hangs (a stuck device
read), pings stop and systemd restarts the service (`WatchdogSec=`). One long, bounded piece of work in the
loop (an auto-mode crossing) runs under `busy`, which keeps pinging for it up to a limit. Outside systemd
this is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

from edge import sdnotify

log = logging.getLogger("borderpost.service")

# Each start-up step (imports, store, devices, lane, UI) may take this long from the end of the previous one.
# A Raspberry Pi 4 needs a few seconds for the whole start; the unit may raise it (an emulator is ~40x slower).
START_STEP_ENV = "BORDERPOST_START_STEP_SEC"
START_STEP_DEFAULT = 60.0


def _seconds(env: str, default: float) -> float:
    """A positive number of seconds from the environment (a unit's drop-in), else the default."""
    try:
        value = float(os.environ.get(env, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def start_step_seconds() -> float:
    return _seconds(START_STEP_ENV, START_STEP_DEFAULT)


def stop_on_signals(stop: threading.Event, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """SIGTERM and SIGINT set `stop`, from a thread of its own.

    Python runs a handler in the main thread between two bytecodes, possibly inside `stop.wait()` while that
    thread holds the event's lock: `stop.set()` called there waits for the lock forever and the service never
    stops (seen: the uplink ignoring SIGTERM until killed). A short-lived thread takes the lock once the
    main thread lets go of it.
    """
    def handler(signum: int, frame: object) -> None:
        threading.Thread(target=stop.set, name="stop-signal", daemon=True).start()

    for sig in signals:
        signal.signal(sig, handler)


def starting(step: str) -> None:
    """Start-up progress for systemd: STATUS names the step and EXTEND_TIMEOUT_USEC grants it its own time, so a
    slow board that is still progressing is not killed by TimeoutStartSec, while a step that hangs still is."""
    sdnotify.notify_extend_timeout(start_step_seconds(), f"starting: {step}")


# One long piece of main-loop work (an auto-mode crossing: the face and finger steps alone may take minutes of
# device time) keeps the watchdog fed this long at most; work that outlasts it is taken for hung.
BUSY_ENV = "BORDERPOST_BUSY_SEC"
BUSY_DEFAULT = 300.0


def busy_seconds() -> float:
    return _seconds(BUSY_ENV, BUSY_DEFAULT)


@contextlib.contextmanager
def busy(heartbeat: Callable[[], None] | None, limit: float | None = None, every: float = 1.0) -> Iterator[None]:
    """Feed the watchdog while the main loop does one bounded piece of work, for `limit` seconds at most.

    The pings still mean "the loop is not stuck": a crossing whose devices answer within their timeouts
    ends long before the limit, and one that outlasts it stops the pings, so systemd restarts the service as
    it would a loop stuck on a device read.
    """
    if heartbeat is None:
        yield
        return
    limit = busy_seconds() if limit is None else limit
    done, t0 = threading.Event(), time.monotonic()

    def feed() -> None:
        while not done.wait(every) and time.monotonic() - t0 < limit:
            heartbeat()

    feeder = threading.Thread(target=feed, name="watchdog-busy", daemon=True)
    feeder.start()
    try:
        yield
    finally:
        done.set()
        feeder.join()


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
