"""Crash-safe file writes: a reader (or the next boot) sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or link inside the directory `path` survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (FAT on some kernels) refuse fsync on a directory; the file itself was synced
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Write `data` to `path` with `mode` and owner set before the name appears (no window of wider access)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        if uid >= 0 or gid >= 0:
            os.fchown(fd, uid, gid)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def ensure_dir(path: Path, mode: int, uid: int = -1, gid: int = -1) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if uid >= 0 or gid >= 0:
        os.chown(path, uid, gid)


def shred_and_remove(path: Path) -> None:
    """Overwrite with zeros, sync, unlink. Best effort on flash media (wear levelling may keep old blocks)."""
    try:
        size = path.stat().st_size
        with open(path, "r+b", buffering=0) as f:
            f.write(b"\0" * size)
            os.fsync(f.fileno())
    except OSError:
        pass
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
