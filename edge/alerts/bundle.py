"""Signed alert-list bundles: what the agency signs, what the appliance verifies, how it travels in chunks.

A bundle is one header line (JSON) and a gzip body (the list's JSON Lines: entries for a snapshot, add/remove
operations for a delta). The header names the kind, the version (increasing), a delta's base version, the
body's length and SHA-256, and carries an Ed25519 signature over its own RFC 8785 canonical form without the
signature: the body is covered through its hash. Over MQTT the header is the retained `manifest` message and
the body is cut into retained `chunk/<i>` messages small enough for the appliance's maximum packet size.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "borderpost-alerts/1"
MAX_HEADER_BYTES = 4096
MAX_BUNDLE_BYTES = 256 * 2**20      # compressed, as received
MAX_BODY_BYTES = 1024 * 2**20       # decompressed
CHUNK_BYTES = 48 * 1024             # body bytes per MQTT message: under the uplink's 64 KiB maximum packet
_CHUNK_MAGIC = b"BPAC"
_CHUNK_HEAD = struct.Struct(">4sQII")   # magic, version, index, count


class BundleError(ValueError):
    """A bundle is refused; the message is the reason (unsigned, bad signature, older, truncated, ...)."""


@dataclass(frozen=True)
class Bundle:
    kind: str               # "snapshot" | "delta"
    version: int
    base: int | None        # a delta applies to this version only
    issued_at: str
    entries: int            # lines in the body
    body: bytes             # the decompressed JSON Lines
    header: dict[str, Any]


def _signed_part(header: dict[str, Any]) -> bytes:
    return rfc8785.dumps({k: v for k, v in header.items() if k != "signature"})


def make_bundle(body: bytes, key: Ed25519PrivateKey, *, version: int, kind: str = "snapshot",
                base: int | None = None, issued_at: str | None = None) -> bytes:
    """Sign `body` (JSON Lines) as a bundle. The caller has validated it (`entries.parse_*`)."""
    if kind not in ("snapshot", "delta") or (kind == "delta") != (base is not None):
        raise ValueError("a delta names its base version; a snapshot has none")
    packed = gzip.compress(body, compresslevel=6, mtime=0)
    header: dict[str, Any] = {
        "format": FORMAT, "kind": kind, "version": int(version), "base": base,
        "issued_at": issued_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "entries": sum(1 for line in body.splitlines() if line.strip()),
        "encoding": "gzip", "body_bytes": len(packed), "body_sha256": hashlib.sha256(packed).hexdigest(),
    }
    header["signature"] = base64.b64encode(key.sign(_signed_part(header))).decode()
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + packed


def read_header(data: bytes) -> dict[str, Any]:
    """The header of a bundle, checked for shape only (not the signature)."""
    line, nl, _ = data[: MAX_HEADER_BYTES + 1].partition(b"\n")
    if not nl:
        raise BundleError("truncated: no complete header line" if len(data) <= MAX_HEADER_BYTES
                          else "not a bundle: header line too long")
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise BundleError("not a bundle: the header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BundleError(f"not a bundle: format is not {FORMAT}")
    ints = ("version", "entries", "body_bytes")
    if any(not isinstance(header.get(k), int) or header[k] < 0 for k in ints) or \
            header.get("kind") not in ("snapshot", "delta") or header.get("encoding") != "gzip" or \
            not isinstance(header.get("body_sha256"), str) or not isinstance(header.get("issued_at"), str):
        raise BundleError("not a bundle: header fields missing or of the wrong type")
    base = header.get("base")
    if (header["kind"] == "delta") != isinstance(base, int):
        raise BundleError("not a bundle: a delta must name its base version, a snapshot none")
    return header


def verify_header(header: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    sig = header.get("signature")
    if not sig:
        raise BundleError("unsigned: the bundle carries no signature")
    try:
        raw = base64.b64decode(sig, validate=True)
        public_key.verify(raw, _signed_part(header))
    except (InvalidSignature, ValueError, TypeError):
        raise BundleError("bad signature: not signed by this post's alert-list key") from None


def open_bundle(data: bytes, public_key: Ed25519PublicKey, *, current_version: int | None = None,
                max_bytes: int = MAX_BUNDLE_BYTES, max_body_bytes: int = MAX_BODY_BYTES) -> Bundle:
    """Verify and unpack a bundle; BundleError with the reason when it must be refused."""
    if len(data) > max_bytes:
        raise BundleError(f"oversized: {len(data)} bytes, the limit is {max_bytes}")
    header = read_header(data)
    verify_header(header, public_key)
    body = data[data.index(b"\n") + 1:]
    if len(body) < header["body_bytes"]:
        raise BundleError(f"truncated: {len(body)} of {header['body_bytes']} body bytes")
    if len(body) > header["body_bytes"]:
        raise BundleError("damaged: bytes after the signed body")
    if hashlib.sha256(body).hexdigest() != header["body_sha256"]:
        raise BundleError("damaged: the body does not match its signed hash")
    check_version(header, current_version)
    try:
        d = zlib.decompressobj(wbits=31)
        plain = d.decompress(body, max_body_bytes + 1)
        if len(plain) > max_body_bytes or d.unconsumed_tail:
            raise BundleError(f"oversized: the list is over {max_body_bytes} bytes unpacked")
        if not d.eof:
            raise BundleError("truncated: the compressed body ends early")
    except zlib.error:
        raise BundleError("damaged: the body is not gzip") from None
    return Bundle(kind=header["kind"], version=header["version"], base=header.get("base"),
                  issued_at=header["issued_at"], entries=header["entries"], body=plain, header=header)


def check_version(header: dict[str, Any], current: int | None) -> None:
    """Refuse a rollback (not newer than what is applied) and a delta for another base."""
    if current is None:
        if header["kind"] == "delta":
            raise BundleError(f"delta for version {header['base']}: no list is applied yet (a snapshot is needed)")
        return
    if header["version"] <= current:
        raise BundleError(f"older: version {header['version']} is not newer than the applied {current} (rollback)")
    if header["kind"] == "delta" and header["base"] != current:
        raise BundleError(f"delta for version {header['base']}, but {current} is applied (a snapshot is needed)")


# ---------------------------------------------------------------- over MQTT
def topics_for(prefix: str, header: dict[str, Any]) -> tuple[str, str]:
    """(manifest topic, chunk topic prefix) of a bundle: one retained snapshot, one retained set per delta."""
    root = f"{prefix}/_alerts/snapshot" if header["kind"] == "snapshot" else \
        f"{prefix}/_alerts/delta/{header['version']}"
    return f"{root}/manifest", f"{root}/chunk/"


def subscription(prefix: str) -> str:
    return f"{prefix}/_alerts/#"


def chunk_messages(bundle: bytes, prefix: str, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[str, bytes]]:
    """The retained messages that carry `bundle`: its manifest (the header line) and its body in chunks."""
    header = read_header(bundle)
    head_line, _, body = bundle.partition(b"\n")
    manifest, chunk_prefix = topics_for(prefix, header)
    parts = [body[i:i + chunk_bytes] for i in range(0, len(body), chunk_bytes)] or [b""]
    out = [(manifest, head_line)]
    for i, part in enumerate(parts):
        out.append((f"{chunk_prefix}{i}", _CHUNK_HEAD.pack(_CHUNK_MAGIC, header["version"], i, len(parts)) + part))
    return out


class Assembler:
    """Collects manifests and chunks as they arrive (any order) and returns each bundle once it is whole.

    Chunks of versions not newer than `current()` are dropped on arrival; at most `max_buffered` bytes are held
    (the oldest incomplete version is dropped first)."""

    def __init__(self, current: Any = lambda: None, max_buffered: int = MAX_BUNDLE_BYTES + 2**20) -> None:
        self.current = current
        self.max_buffered = max_buffered
        self._parts: dict[tuple[str, int], dict[str, Any]] = {}

    def _slot(self, kind: str, version: int) -> dict[str, Any]:
        return self._parts.setdefault((kind, version), {"manifest": None, "chunks": {}, "count": None, "bytes": 0})

    def feed(self, topic: str, payload: bytes) -> bytes | None:
        """One retained message; the whole bundle when this completed one, else None. Raises BundleError for a
        message that is not part of any bundle (the caller logs and ignores it)."""
        kind = "snapshot" if "/_alerts/snapshot/" in topic else "delta" if "/_alerts/delta/" in topic else None
        if kind is None or not payload:
            return None          # an empty retained message clears a topic
        cur = self.current()
        if topic.endswith("/manifest"):
            header = read_header(payload + b"\n")
            version = header["version"]
            if cur is not None and version < cur:
                raise BundleError(f"older: version {version} is not newer than the applied {cur} (rollback)")
            if cur is not None and version == cur:
                return None      # the applied list's own retained manifest, sent again on every subscribe
            slot = self._slot(header["kind"], version)
            slot["manifest"] = payload
        else:
            if len(payload) < _CHUNK_HEAD.size:
                raise BundleError("chunk: too short")
            magic, version, index, count = _CHUNK_HEAD.unpack_from(payload)
            if magic != _CHUNK_MAGIC or index >= count:
                raise BundleError("chunk: not an alert-list chunk")
            if cur is not None and version <= cur:
                return None
            slot = self._slot(kind, version)
            if slot["count"] not in (None, count):
                slot["chunks"].clear()
                slot["bytes"] = 0
            slot["count"] = count
            if index not in slot["chunks"]:
                slot["chunks"][index] = payload[_CHUNK_HEAD.size:]
                slot["bytes"] += len(payload)
            self._bound()
        return self._complete(kind, version)

    def _bound(self) -> None:
        while sum(s["bytes"] for s in self._parts.values()) > self.max_buffered and self._parts:
            del self._parts[min(self._parts, key=lambda k: k[1])]

    def _complete(self, kind: str, version: int) -> bytes | None:
        slot = self._parts.get((kind, version))
        if slot is None or slot["manifest"] is None or slot["count"] is None or len(slot["chunks"]) < slot["count"]:
            return None
        del self._parts[(kind, version)]
        return slot["manifest"] + b"\n" + b"".join(slot["chunks"][i] for i in range(slot["count"]))

    def pending(self) -> list[tuple[str, int]]:
        return sorted(self._parts)
