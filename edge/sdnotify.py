"""systemd's service notification protocol (sd_notify), so units can be `Type=notify` with `WatchdogSec=`.

Why our own ~40 lines: the PyPI `sdnotify` package has had no release since 2017 and `systemd-python` needs
libsystemd headers to build on a technician's laptop. The protocol is one datagram per message to the
AF_UNIX socket named by $NOTIFY_SOCKET (a leading `@` means the abstract namespace).

Every call is a silent no-op when NOTIFY_SOCKET is unset (tests, a shell, a laptop), and never raises:
a lost notification must not take the station down; systemd's watchdog is the backstop.

Ping the watchdog only from the main loop and only while healthy: a hung device loop then stops the pings
and systemd restarts the service.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

__all__ = [
    "WatchdogPinger", "notify", "notify_ready", "notify_status", "notify_stopping", "watchdog_interval",
    "watchdog_ping",
]


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock and other forms are not used on the appliance


def notify(*fields: str) -> bool:
    """Send `KEY=VALUE` fields in one datagram. True if sent; False if not under systemd or on any error."""
    target = os.environ.get("NOTIFY_SOCKET", "")
    address = _address(target) if target else None
    if address is None or not fields:
        return False
    message = "\n".join(fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError:
        return False
    return True


def _clean(text: str) -> str:
    """STATUS is one line; newlines would start a new field. Keep it short for `systemctl status`."""
    return " ".join(text.split())[:200]


def notify_ready(status: str | None = None) -> bool:
    """Tell systemd start-up is complete (Type=notify units are 'active' only from here)."""
    fields = ["READY=1"] + ([f"STATUS={_clean(status)}"] if status else [])
    return notify(*fields)


def notify_status(text: str) -> bool:
    """A one-line human status shown by `systemctl status` (no personal data: it is world-readable)."""
    return notify(f"STATUS={_clean(text)}")


def notify_extend_timeout(seconds: float, status: str | None = None) -> bool:
    """EXTEND_TIMEOUT_USEC: slow but progressing start-up work (a store's integrity check) gets this much more
    time from now, instead of TimeoutStartSec killing it and a restart beginning the work again."""
    fields = [f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}"] + ([f"STATUS={_clean(status)}"] if status else [])
    return notify(*fields)


def notify_stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    """WATCHDOG=1: call from the main loop only after checking the loop is healthy."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects a ping (WATCHDOG_USEC), or None if the watchdog is off for us.

    WATCHDOG_PID, when set, must be our pid: the variable may be inherited by a child that is not the service.
    Ping at half this interval, as sd_watchdog_enabled(3) recommends.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class WatchdogPinger:
    """Rate-limited watchdog pings for a main loop: call `tick(healthy)` every iteration.

    It pings at most every half interval, and never when `healthy` is False, so a loop that keeps running
    but whose devices are stuck still gets restarted. Without a watchdog (no WATCHDOG_USEC) it does nothing.
    """

    def __init__(self, interval: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = watchdog_interval() if interval is None else interval
        self._clock = clock
        self._last: float | None = None

    def tick(self, healthy: bool) -> bool:
        """True if a ping was sent now."""
        if not self.interval or not healthy:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self.interval / 2:
            return False
        self._last = now
        return watchdog_ping()
