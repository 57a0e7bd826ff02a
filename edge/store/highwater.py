"""The sequence high-water mark, kept outside the database so losing the WAL cannot take it.

A crossing's sequence number is committed in the WAL first; if the WAL file is lost (deleted, a bad copy, a
card that dropped its last writes), the database falls back to an older counter and would hand out numbers
already published. Before each commit that allocates numbers, the highest one is written to a small side file
and fsynced; after the commit it is noted again (not synced) as committed. On open, numbers at or below the mark
are never handed out again, and committed numbers missing from the database are reported as a loss.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from edge.fsutil import fsync_dir
from edge.store.files import give_to_dir_owner

_RECORD = 64   # bytes: "allocated committed crc32\n", padded; one sector, rewritten in place


@dataclass(frozen=True)
class Mark:
    allocated: int   # highest number ever handed out (synced before its commit)
    committed: int   # highest number known committed (written after the commit)


@dataclass(frozen=True)
class Loss:
    """Sequence numbers that were committed (or may have been) but are not in the database."""

    first: int
    last: int
    certain: bool    # the numbers were committed (not only allocated by a write that was cut)

    def to_dict(self) -> dict[str, int | bool]:
        return {"first": self.first, "last": self.last, "certain": self.certain}


def _encode(mark: Mark) -> bytes:
    body = f"{mark.allocated} {mark.committed}"
    line = f"{body} {zlib.crc32(body.encode()):08x}\n".encode()
    return line.ljust(_RECORD, b" ")


def decode(data: bytes) -> Mark | None:
    """The mark in a record, or None when it is missing or torn (checksum)."""
    try:
        a, c, crc = data.decode("ascii").split()
        if f"{zlib.crc32(f'{a} {c}'.encode()):08x}" != crc:
            return None
        return Mark(int(a), int(c))
    except (ValueError, UnicodeDecodeError):
        return None


def loss(mark: Mark | None, next_seq: int) -> Loss | None:
    """What the mark says is missing from a database whose next number is `next_seq` (pure)."""
    if mark is None or mark.allocated < next_seq:
        return None
    certain = mark.committed >= next_seq
    if not certain and mark.allocated == next_seq:
        return None   # one number taken by a write that was cut before its commit: skipped, nothing lost
    return Loss(next_seq, mark.allocated, certain)


class HighWater:
    """The side file `<db>-seq`, opened once and rewritten in place."""

    def __init__(self, db_path: Path, read_only: bool = False) -> None:
        self.path = db_path.with_name(db_path.name + "-seq")
        self._fd: int | None = None
        self.mark = self._read()
        if not read_only:
            new = not self.path.exists()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if new:
                give_to_dir_owner(self._fd, self.path.parent)
                fsync_dir(self.path.parent)

    def _read(self) -> Mark | None:
        """The mark as on disk now (another process, the station or a kiosk, may have moved it)."""
        try:
            if self._fd is not None:
                return decode(os.pread(self._fd, _RECORD, 0))
            return decode(self.path.read_bytes()[:_RECORD])
        except OSError:
            return None

    def _write(self, mark: Mark, sync: bool) -> None:
        if self._fd is None:
            raise OSError("the sequence mark is open read-only")
        os.pwrite(self._fd, _encode(mark), 0)
        if sync:
            os.fsync(self._fd)
        self.mark = mark

    def allocate(self, seq: int) -> None:
        """Before the commit that hands out numbers up to `seq` (under the write lock): durable first."""
        self.mark = self._read() or self.mark
        committed = self.mark.committed if self.mark else 0
        if self.mark is None or seq > self.mark.allocated:
            self._write(Mark(seq, committed), sync=True)

    def committed(self, seq: int) -> None:
        """After that commit (not synced: a power cut losing it only makes a later loss look uncertain)."""
        if self.mark is not None and seq > self.mark.committed:
            self._write(Mark(max(seq, self.mark.allocated), seq), sync=False)

    def floor(self) -> int:
        """The lowest number that may be handed out next."""
        self.mark = self._read() or self.mark
        return 1 if self.mark is None else self.mark.allocated + 1

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
