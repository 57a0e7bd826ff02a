"""Biometric samples that wait on the appliance (a kiosk traveller's photos and prints until an officer
decides) are kept encrypted: AES-256-GCM under a key of this device, beside the store.

Why at all: the samples must survive a restart or a power cut between kiosk and booth (the officer needs
them, and the agency's sealed biometrics event is made from them at the decision), but a copy of the
store file alone must not carry faces and fingerprints in clear. The transaction code is the associated
data, so a blob cannot be moved to another transaction's row.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from base64 import b64decode, b64encode
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge.fsutil import fsync_dir

KEY_BYTES = 32
NONCE_BYTES = 12


class AtRestError(Exception):
    """The key or a blob cannot be used; the message says which and why."""


class AtRestKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise AtRestError(f"an at-rest key is {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def load_or_create(cls, path: Path) -> AtRestKey:
        """The device's key at `path` (mode 0600), made on first use. Two processes starting together
        agree: the file appears by a hard link that only one of them can make."""
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, secrets.token_bytes(KEY_BYTES))
                os.fsync(fd)
            finally:
                os.close(fd)
            with contextlib.suppress(FileExistsError):   # another process made it first: theirs is the key
                os.link(tmp, path)
            tmp.unlink()
            fsync_dir(path.parent)
        try:
            return cls(path.read_bytes())
        except OSError as exc:
            raise AtRestError(f"{path}: cannot read the at-rest key: {exc.strerror or exc}") from None

    def seal(self, data: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, context.encode())

    def open(self, blob: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise AtRestError("sealed samples do not open with this device's key (another key, another "
                              "transaction, or damaged)") from None

    def seal_samples(self, samples: dict[str, bytes], context: str) -> bytes:
        """Named image files (JPEG/PNG bytes) as one sealed blob."""
        return self.seal(json.dumps({k: b64encode(v).decode() for k, v in samples.items()}).encode(), context)

    def open_samples(self, blob: bytes, context: str) -> dict[str, bytes]:
        try:
            named = json.loads(self.open(blob, context))
            return {str(k): b64decode(v) for k, v in named.items()}
        except (ValueError, TypeError, AttributeError):
            raise AtRestError("sealed samples opened but are not a set of named images") from None
