"""A small file system of its own for store tests: fill it, remount it read-only (needs root, as in CI).

Test modules use the `small_fs` fixture through their conftest (`from tests.support.smallfs import small_fs`).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


class SmallFs:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self, name: str = "filler") -> Path:
        """Write a file until the file system has no byte left (what a runaway log does)."""
        f = self.path / name
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (2**20, 2**16, 2**12, 512, 1):
                block = b"\0" * size
                while True:
                    try:
                        if os.write(fd, block) < size:
                            break
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return f

    def remount(self, *options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(self.path)], check=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[..., SmallFs]]:
    mounted: list[Path] = []

    def make(size_mb: int, name: str = "fs") -> SmallFs:
        if os.geteuid() != 0:
            pytest.skip("needs root to mount a small tmpfs (CI runs the tests as root)")
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounted.append(d)
        return SmallFs(d)

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)
