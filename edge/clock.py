"""Wall-clock time and whether it can be trusted: a Pi has no RTC, so events say if NTP had synchronised."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from datetime import UTC, datetime

_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised (STA_UNSYNC set)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def clock_synchronised() -> bool:
    """Ask the kernel (adjtimex with no changes), as timedatectl does; False when it cannot tell."""
    libc = _libc()
    if libc is None or not hasattr(libc, "adjtimex"):
        return False
    buf = ctypes.create_string_buffer(512)  # struct timex with modes = 0: read only
    state = libc.adjtimex(buf)
    return 0 <= state < _TIME_ERROR


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(dt: datetime) -> str:
    """RFC 3339 with milliseconds and Z, as CloudEvents `time` expects."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
