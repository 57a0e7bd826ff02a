"""Fetch a bundle named by the agency: HTTPS only, the device's mutual-TLS identity (the broker client certificate
from provisioning) and the agency CA, streamed to disk with its SHA-256 checked before anyone installs it.

A file whose hash does not match is deleted, never installed. Redirects are refused: the signed command names
the exact URL. A size limit guards the data partition.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 1 << 20
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_BYTES = 4 << 30


class FetchError(Exception):
    """Why a bundle was not fetched (one line, no secrets)."""


@dataclass(frozen=True)
class Identity:
    """What the device shows and trusts: its client certificate and key, and the agency CA."""

    cert_file: Path
    key_file: Path
    ca_file: Path


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    sha256: str
    seconds: float


def check_url(url: str) -> tuple[str, int, str]:
    """(host, port, path with query) of an https URL; FetchError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise FetchError(f"bundle URL must be https://, not {parts.scheme or 'none'}://")
    if not parts.hostname:
        raise FetchError("bundle URL has no host")
    if parts.username or parts.password:
        raise FetchError("bundle URL must not carry credentials (the device's certificate is its identity)")
    try:
        port = parts.port or 443
    except ValueError:
        raise FetchError("bundle URL has a bad port") from None
    return parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def tls_context(identity: Identity) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(identity.ca_file))
        ctx.load_cert_chain(str(identity.cert_file), str(identity.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(f"device TLS identity unusable: {exc}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def fetch(url: str, sha256: str, dest: Path, identity: Identity, *, max_bytes: int = MAX_BYTES,
          timeout: float = 60.0, on_progress: Callable[[int, int | None], None] | None = None) -> Fetched:
    """Download URL to DEST (via DEST.part), checking SHA256 (lowercase hex) and the size limit as it streams."""
    want = sha256.lower()
    if not SHA256.match(want):
        raise FetchError("sha256 must be 64 hexadecimal digits")
    host, port, path = check_url(url)
    started = time.monotonic()
    conn = http.client.HTTPSConnection(host, port, context=tls_context(identity), timeout=timeout)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            conn.request("GET", path, headers={"User-Agent": "borderpost-update"})
            resp = conn.getresponse()
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            raise FetchError(f"cannot fetch the bundle from {host}:{port}: {exc}") from None
        if resp.status != 200:
            raise FetchError(f"bundle server answered HTTP {resp.status} {resp.reason}")
        length = resp.getheader("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise FetchError(f"bundle is {total} bytes, over the limit of {max_bytes}")
        digest, size = hashlib.sha256(), 0
        with open(part, "wb") as out:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                    raise FetchError(f"bundle download cut off after {size} bytes: {exc}") from None
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"bundle is over the limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
                if on_progress is not None:
                    on_progress(size, total)
            out.flush()
            os.fsync(out.fileno())
        if total is not None and size != total:
            raise FetchError(f"bundle download cut off: {size} of {total} bytes")
        got = digest.hexdigest()
        if got != want:
            raise FetchError(f"sha256 mismatch: the bundle fetched is {got}, the command names {want}")
        os.replace(part, dest)
        return Fetched(dest, size, got, time.monotonic() - started)
    finally:
        conn.close()
        part.unlink(missing_ok=True)
