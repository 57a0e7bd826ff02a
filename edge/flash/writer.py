"""Write an image to a disk or file: only the mapped blocks when there is a block map, hashing as we go,
then fsync and read everything written back from the medium (page cache dropped) to compare.

A card that silently drops writes (counterfeit capacity, worn flash) fails the read-back, not the field.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge.flash.bmap import Bmap
from edge.flash.target import Target

CHUNK = 4 << 20
Progress = Callable[[int], None]


class WriteError(Exception):
    """Writing or read-back failed: the target must not be used as is."""


class ImageDataError(WriteError):
    """The image's data does not match its block map (wrong or corrupted image/map pair)."""


@dataclass(frozen=True)
class Extent:
    offset: int
    length: int | None          # None: to the end of the image (no block map, size unknown)
    sha256: str | None          # expected, from the block map


@dataclass
class WriteReport:
    bytes_written: int
    extents: int
    digests: list[tuple[int, int, str]]   # (offset, length, sha256) as written


class ImageSource:
    """The uncompressed image as a forward-only stream; `.xz` is decompressed on the fly."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.compressed = path.suffix == ".xz"
        self._f: BinaryIO = lzma.open(path, "rb") if self.compressed else open(path, "rb")  # noqa: SIM115
        self.pos = 0

    def skip_to(self, offset: int) -> None:
        if offset < self.pos:
            raise WriteError("block map ranges go backwards")
        if not self.compressed:
            self._f.seek(offset)
        else:
            while self.pos < offset:          # decompress and drop: xz has no random access
                got = len(self._f.read(min(CHUNK, offset - self.pos)))
                if not got:
                    break
                self.pos += got
        self.pos = offset

    def read(self, n: int) -> bytes:
        try:
            buf = self._f.read(n)
        except (lzma.LZMAError, EOFError) as exc:
            raise ImageDataError(f"{self.path.name}: cannot decompress: {exc}") from None
        self.pos += len(buf)
        return buf

    def close(self) -> None:
        self._f.close()


def image_size(path: Path) -> int | None:
    """Uncompressed size: the file size, or for `.xz` the size `xz --list` reads from the stream index."""
    if path.suffix != ".xz":
        return path.stat().st_size
    if shutil.which("xz") is None:
        return None
    out = subprocess.run(["xz", "--robot", "--list", str(path)], capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "totals" and len(parts) > 4 and parts[4].isdigit():
            return int(parts[4])
    return None


def extents_for(bmap: Bmap | None) -> list[Extent]:
    if bmap is None:
        return [Extent(0, None, None)]
    return [Extent(*bmap.byte_span(r), r.sha256) for r in bmap.ranges]


def write(source: ImageSource, target: Target, extents: list[Extent], size: int | None,
          progress: Progress | None = None) -> WriteReport:
    """Copy the extents; raise ImageDataError if a range's data does not hash to the map's value."""
    flags = os.O_WRONLY | os.O_CLOEXEC
    flags |= os.O_EXCL if target.is_block else os.O_CREAT   # O_EXCL on a block device: fails if mounted
    try:
        fd = os.open(target.path, flags, 0o644)
    except OSError as exc:
        raise WriteError(f"{target.path}: cannot open for writing: {exc.strerror} "
                         "(mounted, or run as root / with disk group access)") from None
    report = WriteReport(0, 0, [])
    try:
        if not target.is_block and size is not None and target.size is None:
            os.ftruncate(fd, size)             # unmapped blocks stay holes in a file target
        for ext in extents:
            source.skip_to(ext.offset)
            h = hashlib.sha256()
            done = 0
            while ext.length is None or done < ext.length:
                want = CHUNK if ext.length is None else min(CHUNK, ext.length - done)
                buf = source.read(want)
                if not buf:
                    if ext.length is None:
                        break
                    raise ImageDataError(f"the image ends at byte {ext.offset + done}, its block map goes "
                                         f"to {ext.offset + ext.length}: image and map do not belong together")
                if target.size is not None and target.is_block and ext.offset + done + len(buf) > target.size:
                    raise WriteError(f"{target.path}: the image does not fit ({target.size} bytes)")
                h.update(buf)
                _pwrite_all(fd, buf, ext.offset + done)
                done += len(buf)
                if progress:
                    progress(len(buf))
            digest = h.hexdigest()
            if ext.sha256 is not None and digest != ext.sha256:
                raise ImageDataError(f"image data at byte {ext.offset} does not match its block map: the image "
                                     "or the map is corrupted")
            report.digests.append((ext.offset, done, digest))
            report.bytes_written += done
            report.extents += 1
        try:
            os.fsync(fd)
        except OSError as exc:
            raise WriteError(f"{target.path}: flushing failed: {exc.strerror} (card removed or faulty?)") from None
    except OSError as exc:
        raise WriteError(f"{target.path}: write failed: {exc.strerror} (card removed, full or faulty?)") from None
    finally:
        os.close(fd)
    return report


def _pwrite_all(fd: int, buf: bytes, offset: int) -> None:
    view = memoryview(buf)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def read_back(path: Path, digests: list[tuple[int, int, str]], progress: Progress | None = None) -> None:
    """Re-read every written extent from the medium and compare hashes."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for offset, length, want in digests:
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)   # read the medium, not the cache
            h = hashlib.sha256()
            done = 0
            while done < length:
                buf = os.pread(fd, min(CHUNK, length - done), offset + done)
                if not buf:
                    break
                h.update(buf)
                done += len(buf)
                if progress:
                    progress(len(buf))
            if done != length or h.hexdigest() != want:
                raise WriteError(f"{path}: read-back differs from what was written at byte {offset}: the card "
                                 "is faulty or fake; use another one")
    finally:
        os.close(fd)
