"""Space set aside on the store's file system for delivery bookkeeping.

Delivery is what frees space (delivered events go at retention), so a full disk must never stop the uplink
from recording its PUBACKs. A preallocated file next to the database holds that space; it is released only
when a delivery mark (or opening the store to deliver) meets a full disk, and taken again once there is room.
While it is released the store takes no new crossings, so the freed space serves delivery alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from edge.store.files import give_to_dir_owner

RESERVE_BYTES = 4 * 2**20   # the WAL of marks between checkpoints (kept short while the reserve is in use)


class Reserve:
    def __init__(self, db_path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = db_path.with_name(db_path.name + "-reserve")
        self.size = size

    @property
    def held(self) -> bool:
        """The space is set aside (the file exists at its full size)."""
        try:
            return self.size == 0 or self.path.stat().st_blocks * 512 >= self.size
        except OSError:
            return False

    def take(self) -> bool:
        """Set the space aside if the disk has it beyond the reserve itself; returns whether it is held."""
        if self.held:
            return True
        try:
            if shutil.disk_usage(self.path.parent).free < 2 * self.size:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                give_to_dir_owner(fd, self.path.parent)
                os.posix_fallocate(fd, 0, self.size)   # real blocks, not a sparse file
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            with contextlib.suppress(OSError):
                self.path.unlink()
            return False
        return True

    def release(self) -> bool:
        """Give the space back to the file system; returns whether there was any to give."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError:
            return False
        return True
