"""Hand the heap's free pages back to the system right after large buffers were freed.

Why: the face models and NFIQ 2 allocate and free large buffers in every crossing; glibc keeps what was
freed inside its arenas (one per busy thread), so a station's resident memory creeps up by 15-60 MB
over what it uses. malloc_trim(0) returns those pages; it takes well under a millisecond here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return getattr(libc, "malloc_trim", None)   # glibc only; musl and others have none


def release_free_heap() -> bool:
    """True when pages went back to the system (glibc), False when none could or nothing was free."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
