"""The device's Ed25519 identity: created on first start, kept 0600, public half shown to the agency."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.fsutil import fsync_dir

T = TypeVar("T")


class IdentityError(Exception):
    pass


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable fingerprint of a public key (first 16 hex of SHA-256 of the raw key)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class DeviceKey:
    private: Ed25519PrivateKey
    path: Path

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def public_b64(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()


def load_key(path: Path) -> DeviceKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"{path}: cannot read device key: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise IdentityError(f"{path}: not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path}: expected an Ed25519 key, found {type(key).__name__}")
    if path.stat().st_mode & 0o077:
        raise IdentityError(f"{path}: device key is readable by others (mode {oct(path.stat().st_mode & 0o777)}); "
                            "chmod 600 it")
    return DeviceKey(key, path)


def _create_key_exclusively(path: Path, key: Ed25519PrivateKey) -> None:
    """Put a complete key file at `path` unless one is there already (then that one stays: another process made it).

    Written to a private temporary file first, then hard-linked into place: the link fails if `path` exists, so two
    processes starting together end up with the same key, and nobody ever sees a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            if os.geteuid() == 0:  # a technician's sudo: the key belongs to the service user owning the directory
                d = path.parent.stat()
                os.fchown(fd, d.st_uid, d.st_gid)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def load_or_create_key(path: Path) -> DeviceKey:
    if not path.exists():
        _create_key_exclusively(path, Ed25519PrivateKey.generate())
    return load_key(path)


def load_public_pem(path: Path, expected: type[T], what: str, error: type[Exception] = IdentityError) -> T:
    """A PEM public key of the `expected` type, or `error` with a one-line reason naming the file."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot load {what}: {exc}") from None
    if not isinstance(key, expected):
        raise error(f"{path}: expected {what}, found {type(key).__name__}")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    return load_public_pem(path, Ed25519PublicKey, "an Ed25519 public key")
