"""A release is an image plus `SHA256SUMS` and its detached Ed25519 signature `SHA256SUMS.sig`.

The signature covers the checksum list; the list covers the image (`.img.xz` or `.img`) and its block map.
So one 64-byte signature check, then one hash per file, proves every byte came from the release key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SUMS = "SHA256SUMS"
SIG = "SHA256SUMS.sig"
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


class ReleaseError(Exception):
    """The image must not be written; the message says why."""


def parse_sums(text: str) -> dict[str, str]:
    """`sha256sum` output → {file name: lower-case hex}. Blank lines and `#` comments are allowed; anything
    else that is not `HEX  NAME` is an error (a garbled list must not be half-trusted)."""
    out: dict[str, str] = {}
    for n, raw in enumerate(text.split("\n"), 1):  # not splitlines(): \f or \x1c may be in a name
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ReleaseError(f"{SUMS} line {n} is not 'SHA256  FILE'")
        name = m.group(2)
        if "/" in name or name in (".", ".."):
            raise ReleaseError(f"{SUMS} line {n}: names a path, not a file beside it: {name!r}")
        if name in out:
            raise ReleaseError(f"{SUMS} line {n}: {name} listed twice")
        out[name] = m.group(1).lower()
    if not out:
        raise ReleaseError(f"{SUMS} lists no files")
    return out


def format_sums(digests: dict[str, str]) -> str:
    return "".join(f"{d}  {name}\n" for name, d in sorted(digests.items()))


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ReleaseError(f"signing key {path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:
        raise ReleaseError(f"signing key {path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReleaseError(f"signing key {path}: not an Ed25519 public key")
    return key


def decode_signature(data: bytes) -> bytes:
    """Raw 64 bytes, or the same in base64 text (what `base64` or a web form produces)."""
    if len(data) == 64:
        return data
    try:
        raw = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise ReleaseError(f"{SIG} is not an Ed25519 signature (64 bytes raw or base64)")
    return raw


def verify_signature(sums: bytes, signature: bytes, key: Ed25519PublicKey) -> None:
    try:
        key.verify(decode_signature(signature), sums)
    except InvalidSignature:
        raise ReleaseError(f"{SIG} does not match {SUMS} for this signing key: the release was altered, "
                           "or signed by someone else") from None


def sign(sums: bytes, key: Ed25519PrivateKey) -> bytes:
    return key.sign(sums)


def file_sha256(path: Path, progress: Callable[[int], None] | None = None, chunk: int = 4 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while buf := f.read(chunk):
            h.update(buf)
            if progress:
                progress(len(buf))
    return h.hexdigest()


@dataclass(frozen=True)
class Release:
    image: Path
    bmap: Path | None
    sums: dict[str, str]


def bmap_path_for(image: Path) -> Path:
    """`x.img.xz` and `x.img` both have their map at `x.img.bmap`... or `x.bmap` (bmaptool looks for both)."""
    name = image.name
    for suffix in (".xz", ".gz", ".zst"):
        name = name.removesuffix(suffix)
    first = image.with_name(name + ".bmap")
    return first if first.exists() else image.with_name(name.removesuffix(".img") + ".bmap")


def verify_release(image: Path, key: Ed25519PublicKey, *, use_bmap: bool = True,
                   progress: Callable[[int], None] | None = None) -> Release:
    """Check the signature, then the image's (and the block map's) SHA-256 against the signed list."""
    directory = image.parent
    try:
        sums_bytes = (directory / SUMS).read_bytes()
        signature = (directory / SIG).read_bytes()
    except FileNotFoundError as exc:
        raise ReleaseError(f"{Path(exc.filename).name} not found beside {image.name}: an image is written only "
                           "with its signed checksums") from None
    verify_signature(sums_bytes, signature, key)
    try:
        sums = parse_sums(sums_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise ReleaseError(f"{SUMS} is not text") from None
    if image.name not in sums:
        raise ReleaseError(f"{image.name} is not listed in {SUMS}: not part of this release")
    if file_sha256(image, progress) != sums[image.name]:
        raise ReleaseError(f"{image.name}: checksum mismatch: the image is corrupted (incomplete download or a "
                           "bad copy); fetch it again")
    bmap = bmap_path_for(image) if use_bmap else None
    if bmap is not None and bmap.exists():
        if bmap.name not in sums:
            raise ReleaseError(f"{bmap.name} is not listed in {SUMS}; use --no-bmap to write every block")
        if file_sha256(bmap) != sums[bmap.name]:
            raise ReleaseError(f"{bmap.name}: checksum mismatch: the block map is corrupted or truncated")
    else:
        bmap = None
    return Release(image, bmap, sums)


def make_release(image: Path, key: Ed25519PrivateKey, *, compress: bool = True, block_size: int = 4096) -> list[Path]:
    """From a raw sparse `.img`: write `.img.bmap`, optionally `.img.xz` (the raw image is kept),
    `SHA256SUMS` over what is shipped, and its detached signature. Returns the files written."""
    import lzma

    from edge.flash import bmap as bmapmod

    if image.suffix != ".img":
        raise ReleaseError(f"{image.name}: expected a raw .img to map and sign")
    bmap_path = image.with_name(image.name + ".bmap")
    bmap_path.write_text(bmapmod.dumps(bmapmod.generate(image, block_size)))
    shipped = [bmap_path]
    if compress:
        xz_path = image.with_name(image.name + ".xz")
        with open(image, "rb") as src, lzma.open(xz_path, "wb", preset=6, check=lzma.CHECK_CRC64) as dst:
            while buf := src.read(4 << 20):
                dst.write(buf)
        shipped.append(xz_path)
    else:
        shipped.append(image)
    sums = format_sums({p.name: file_sha256(p) for p in shipped}).encode()
    (image.parent / SUMS).write_bytes(sums)
    (image.parent / SIG).write_bytes(sign(sums, key))
    return [*shipped, image.parent / SUMS, image.parent / SIG]
