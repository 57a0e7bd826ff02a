"""bmaptool's block map (XML, format 2.0): which blocks of a sparse image hold data, with a SHA-256 per range.

Read and written here (about 150 lines) rather than depending on bmaptool: it is not on PyPI under a
maintained name, and we need only the format, not its CLI. Files we write are read by `bmaptool copy`, and
bmaptool's files are read by us; `BmapFileChecksum` (SHA-256 of the file with that field zeroed) guards the
map itself, so a truncated or edited map is refused before any block is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_BMAP_BYTES = 64 * 1024 * 1024
_CHECKSUM_RE = re.compile(r"(<BmapFileChecksum>\s*)([0-9a-fA-F]+)(\s*</BmapFileChecksum>)")


class BmapError(Exception):
    """A block map that must not be used, phrased for a person."""


@dataclass(frozen=True)
class Range:
    first: int          # first block, inclusive
    last: int           # last block, inclusive
    sha256: str

    @property
    def blocks(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Bmap:
    image_size: int
    block_size: int
    ranges: tuple[Range, ...]

    @property
    def blocks_count(self) -> int:
        return -(-self.image_size // self.block_size)

    @property
    def mapped_blocks(self) -> int:
        return sum(r.blocks for r in self.ranges)

    @property
    def mapped_bytes(self) -> int:
        return sum(self.byte_span(r)[1] for r in self.ranges)

    def byte_span(self, r: Range) -> tuple[int, int]:
        """(offset, length) of a range in the image; the last block may be short."""
        start = r.first * self.block_size
        end = min((r.last + 1) * self.block_size, self.image_size)
        return start, end - start


def _int(root: ET.Element, tag: str) -> int:
    el = root.find(tag)
    if el is None or el.text is None:
        raise BmapError(f"block map has no <{tag}>")
    try:
        return int(el.text.strip())
    except ValueError:
        raise BmapError(f"block map <{tag}> is not a number: {el.text.strip()[:20]!r}") from None


def parse(text: str) -> Bmap:
    """Parse and check a bmap (version 2.x, SHA-256). Raises BmapError for anything inconsistent."""
    if len(text) > MAX_BMAP_BYTES:
        raise BmapError("block map is implausibly large")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise BmapError(f"block map is truncated or not XML ({exc})") from None
    if root.tag != "bmap":
        raise BmapError(f"not a block map (root element <{root.tag}>)")
    version = root.get("version", "")
    if not version.startswith("2."):
        raise BmapError(f"block map version {version!r} is not supported (need 2.x, SHA-256)")
    ctype = (root.findtext("ChecksumType") or "").strip().lower()
    if ctype != "sha256":
        raise BmapError(f"block map checksum type {ctype!r} is not supported (need sha256)")
    m = _CHECKSUM_RE.search(text)
    if m is None:
        raise BmapError("block map has no <BmapFileChecksum>")
    zeroed = text[: m.start(2)] + "0" * len(m.group(2)) + text[m.end(2):]
    if hashlib.sha256(zeroed.encode()).hexdigest() != m.group(2).lower():
        raise BmapError("block map checksum mismatch: the map was truncated or edited")
    image_size, block_size = _int(root, "ImageSize"), _int(root, "BlockSize")
    blocks_count, mapped_count = _int(root, "BlocksCount"), _int(root, "MappedBlocksCount")
    if block_size <= 0 or block_size % 512 or image_size < 0:
        raise BmapError(f"block map has an invalid block size {block_size} or image size {image_size}")
    bm = root.find("BlockMap")
    if bm is None:
        raise BmapError("block map has no <BlockMap>")
    ranges = []
    for el in bm.findall("Range"):
        ranges.append(_range(el))
    bmap = Bmap(image_size, block_size, tuple(ranges))
    if blocks_count != bmap.blocks_count:
        raise BmapError(f"block map says {blocks_count} blocks, the image size gives {bmap.blocks_count}")
    prev = -1
    for r in ranges:
        if r.first <= prev or r.last < r.first or r.last >= blocks_count:
            raise BmapError(f"block map range {r.first}-{r.last} overlaps, is out of order or beyond the image")
        prev = r.last
    if bmap.mapped_blocks != mapped_count:
        raise BmapError(f"block map says {mapped_count} mapped blocks, its ranges hold {bmap.mapped_blocks}")
    return bmap


def _range(el: ET.Element) -> Range:
    text = (el.text or "").strip()
    chk = (el.get("chksum") or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", chk):
        raise BmapError(f"block map range {text!r} has no SHA-256 checksum")
    m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
    if m is None:
        raise BmapError(f"block map range {text!r} is not 'FIRST-LAST'")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    return Range(first, last, chk)


def dumps(bmap: Bmap) -> str:
    """The XML text, with BmapFileChecksum filled in (bmaptool reads it)."""
    lines = [
        '<?xml version="1.0" ?>',
        "<!-- Block map (bmaptool format 2.0) written by borderpost: which blocks of the image hold data. -->",
        '<bmap version="2.0">',
        f"    <ImageSize> {bmap.image_size} </ImageSize>",
        f"    <BlockSize> {bmap.block_size} </BlockSize>",
        f"    <BlocksCount> {bmap.blocks_count} </BlocksCount>",
        f"    <MappedBlocksCount> {bmap.mapped_blocks} </MappedBlocksCount>",
        "    <ChecksumType> sha256 </ChecksumType>",
        f"    <BmapFileChecksum> {'0' * 64} </BmapFileChecksum>",
        "    <BlockMap>",
        *(f'        <Range chksum="{r.sha256}"> {r.first}-{r.last} </Range>' if r.last != r.first
          else f'        <Range chksum="{r.sha256}"> {r.first} </Range>' for r in bmap.ranges),
        "    </BlockMap>",
        "</bmap>",
        "",
    ]
    text = "\n".join(lines)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text.replace("0" * 64, digest, 1)


def data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte extents holding data, from the filesystem's SEEK_DATA/SEEK_HOLE."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:      # ENXIO: only a hole remains
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, end
        pos = end


def generate(image: Path, block_size: int = 4096, chunk: int = 1 << 20) -> Bmap:
    """Map an uncompressed sparse image: mapped ranges are the block-aligned data extents, each hashed."""
    size = image.stat().st_size
    blocks: list[tuple[int, int]] = []
    with open(image, "rb") as f:
        for start, end in data_extents(f.fileno(), size):
            first, last = start // block_size, (end - 1) // block_size
            if blocks and first <= blocks[-1][1] + 1:
                blocks[-1] = (blocks[-1][0], max(last, blocks[-1][1]))
            else:
                blocks.append((first, last))
        ranges = []
        for first, last in blocks:
            h = hashlib.sha256()
            f.seek(first * block_size)
            left = min((last + 1) * block_size, size) - first * block_size
            while left:
                buf = f.read(min(chunk, left))
                if not buf:
                    raise BmapError(f"{image}: shorter than its size while mapping")
                h.update(buf)
                left -= len(buf)
            ranges.append(Range(first, last, h.hexdigest()))
    return Bmap(size, block_size, tuple(ranges))
