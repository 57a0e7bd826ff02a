"""Keys, entries and bundles for the alert-list tests."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.alerts.bundle import make_bundle
from edge.alerts.db import AlertDB
from edge.alerts.entries import Entry, dump_entries


def person(eid: str, surname: str, given: str = "", birth: str | None = "1985-03-07", **kw: str) -> Entry:
    return Entry(id=eid, kind="person", reason="notice", action="refer", surname=surname, given_names=given or None,
                 birth_date=birth, **kw)


def document(eid: str, state: str, number: str, **kw: str) -> Entry:
    return Entry(id=eid, kind="document", reason="stolen", action="refuse", issuing_state=state,
                 document_number=number, **kw)


def snapshot(key: Ed25519PrivateKey, entries: list[Entry], version: int) -> bytes:
    return make_bundle(dump_entries(entries), key, version=version)


def write_public(key: Ed25519PrivateKey, path: Path) -> Path:
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def write_private(key: Ed25519PrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def open_db(tmp_path: Path, key: Ed25519PrivateKey) -> AlertDB:
    return AlertDB.beside(tmp_path / "var" / "borderpost.db", key.public_key())
