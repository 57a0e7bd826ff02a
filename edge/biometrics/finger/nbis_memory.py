"""Hand back the memory libnbis holds but does not use once its extractors are made.

Two parts, both handed back with madvise(MADV_DONTNEED), which changes no byte the library can read:
- its thread-local block: libnbis declares 48 MB of zero-initialised thread-local storage (`.tbss`) and
  glibc clears a dlopen'ed library's block when a thread first uses it, so all 48 MB become resident,
  though NFIQ 2, MINDTCT and Bozorth3 write about 0.3 MB of it. A page of private anonymous memory
  handed back reads as zeros again and gets a fresh page when written, so only all-zero pages are.
  Only the thread that owns a block writes it: this runs on that thread, between calls into the library.
- its read-only segment (29 MB, most of it NFIQ 2's random forest as text, read once to build the
  forest): a page of a read-only file mapping handed back is read again from the file if ever touched.
Anything unexpected (not glibc, no such library, no block yet) hands back nothing.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from elftools.elf.elffile import ELFFile

from edge.biometrics.finger.nbis_glibc import nbis_libraries

log = logging.getLogger(__name__)

LIBRARY = "libnbis.so"
RTLD_DI_LINKMAP = 2         # <dlfcn.h>: the module's struct link_map (its first field: the load address)
RTLD_DI_TLS_DATA = 10       # <dlfcn.h>: the calling thread's TLS block of the module (NULL if none yet)
MADV_DONTNEED = 4
PF_R = 4


@dataclass(frozen=True)
class Layout:
    tls_size: int                            # PT_TLS p_memsz
    read_only: tuple[tuple[int, int], ...]   # (vaddr, size) of each PT_LOAD that is readable only


def layout(path: Path) -> Layout:
    with path.open("rb") as f:
        segments = list(ELFFile(f).iter_segments())
    return Layout(
        tls_size=sum(int(s["p_memsz"]) for s in segments if s["p_type"] == "PT_TLS"),
        read_only=tuple((int(s["p_vaddr"]), int(s["p_memsz"])) for s in segments
                        if s["p_type"] == "PT_LOAD" and s["p_flags"] == PF_R))


def inner_pages(start: int, size: int, page: int = mmap.PAGESIZE) -> tuple[int, int]:
    """(first address, page count) of the whole pages inside [start, start + size)."""
    first = -(-start // page) * page
    return first, max(0, (start + size) // page - first // page)


def zero_page_runs(pages: np.ndarray) -> list[tuple[int, int]]:
    """(first page, page count) of each run of all-zero rows in a (pages, words) array."""
    zero = ~pages.any(axis=1)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], zero, [False])).astype(np.int8)))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class _Libc:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.lib.dlinfo.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        self.lib.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

    def dlinfo(self, handle: int, request: int) -> int:
        out = ctypes.c_void_p()
        if self.lib.dlinfo(handle, request, ctypes.byref(out)) != 0:
            return 0
        return out.value or 0

    def dontneed(self, address: int, pages: int) -> int:
        size = pages * mmap.PAGESIZE
        return size if pages > 0 and self.lib.madvise(address, size, MADV_DONTNEED) == 0 else 0


def release() -> int:
    """Bytes handed back: the calling thread's all-zero TLS pages and the read-only segment (0 if none could be)."""
    path = next((p for p in nbis_libraries() if p.name == LIBRARY), None)
    process = ctypes.CDLL(None)      # the process's own symbols: glibc's dlinfo and madvise
    if path is None or not hasattr(process, "dlinfo"):
        return 0
    try:
        shape = layout(path)
        handle = ctypes.CDLL(str(path), mode=os.RTLD_NOLOAD | os.RTLD_LAZY)._handle
    except OSError:
        return 0
    libc = _Libc(process)
    released = 0
    block = libc.dlinfo(handle, RTLD_DI_TLS_DATA)
    first, count = inner_pages(block, shape.tls_size)
    if block and count:
        words = np.ctypeslib.as_array((ctypes.c_uint64 * (count * mmap.PAGESIZE // 8)).from_address(first))
        for start, n in zero_page_runs(words.reshape(count, mmap.PAGESIZE // 8)):
            released += libc.dontneed(first + start * mmap.PAGESIZE, n)
    link_map = libc.dlinfo(handle, RTLD_DI_LINKMAP)
    if link_map:
        base = ctypes.c_size_t.from_address(link_map).value      # l_addr, the load bias
        for vaddr, size in shape.read_only:
            released += libc.dontneed(*inner_pages(base + vaddr, size))
    log.debug("NBIS: %d bytes handed back", released)
    return released
