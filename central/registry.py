"""The device registry: who may publish under which topic, with which key. Every change is audited."""

from __future__ import annotations

import base64
import binascii
import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from central import db
from central.verify import Enrolled, public_key_from_b64
from edge.identity import key_id

ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class EnrolError(Exception):
    """An enrolment request we refuse, with the reason."""


@dataclass(frozen=True)
class Enrolment:
    post: str
    device: str
    public_key_b64: str | None   # None: from a provisioning bundle, key to follow


def _valid_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or not set(value) <= ID_CHARS:
        raise EnrolError(f"{what} must be 1-64 letters, digits, - or _")
    return value


def parse_identity(text: str) -> Enrolment:
    """The JSON of `borderpost identity show --json` (post, device, public_key_b64[, key_id])."""
    try:
        info = json.loads(text)
    except ValueError:
        raise EnrolError("not JSON: expected the output of `borderpost identity show --json`") from None
    if not isinstance(info, dict):
        raise EnrolError("expected a JSON object")
    post, device = _valid_id(info.get("post"), "post"), _valid_id(info.get("device"), "device")
    raw = info.get("public_key_b64")
    try:
        key = public_key_from_b64(raw) if isinstance(raw, str) else None
    except (binascii.Error, ValueError):
        key = None
    if key is None:
        raise EnrolError("public_key_b64 is not a base64 Ed25519 public key")
    if "key_id" in info and info["key_id"] != key_id(key):
        raise EnrolError(f"key_id {str(info['key_id'])[:20]!r} does not match the key ({key_id(key)})")
    return Enrolment(post, device, raw)


def parse_bundle(directory: Path) -> Enrolment:
    """A provisioning bundle's manifest names the post and device; its signing key is made at first boot."""
    manifest = directory / "provision.toml"
    if not manifest.is_file():
        manifest = directory / "borderpost" / "provision.toml"
    try:
        info = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EnrolError(f"{manifest}: not a provisioning bundle manifest: {exc}") from None
    return Enrolment(_valid_id(info.get("post"), "post"), _valid_id(info.get("device"), "device"), None)


def enrol(engine: Engine, e: Enrolment, actor: str) -> str:
    """Add or update a device (a new key replaces the old one); returns what happened, in words."""
    now = time.time()
    kid = key_id(public_key_from_b64(e.public_key_b64)) if e.public_key_b64 else None
    with engine.begin() as conn:
        row = conn.execute(sa.select(db.devices).where(db.devices.c.post == e.post,
                                                       db.devices.c.device == e.device)).mappings().first()
        state = "active" if e.public_key_b64 else "awaiting_key"
        if row is None:
            conn.execute(db.devices.insert().values(post=e.post, device=e.device, key_id=kid,
                                                    public_key_b64=e.public_key_b64, state=state, enrolled_at=now))
            what = "enrolled" if kid else "enrolled from a bundle, awaiting its key"
        elif e.public_key_b64 is None and row["public_key_b64"]:
            return f"{e.post}/{e.device} already enrolled with key {row['key_id']}: unchanged"
        else:
            if row["state"] == "active" and row["key_id"] == kid:
                return f"{e.post}/{e.device} already enrolled with key {kid}: unchanged"
            conn.execute(db.devices.update().where(db.devices.c.post == e.post, db.devices.c.device == e.device)
                         .values(key_id=kid, public_key_b64=e.public_key_b64, state=state, enrolled_at=now,
                                 revoked_at=None))
            what = "re-enrolled" if row["state"] != "revoked" else "re-enrolled after revocation"
        db.add_audit(conn, actor, "enrol", f"{e.post}/{e.device}", f"{what}; key {kid or 'none'}")
    return f"{e.post}/{e.device} {what}" + (f" (key {kid})" if kid else "")


def revoke(engine: Engine, post: str, device: str, actor: str, reason: str = "") -> bool:
    with engine.begin() as conn:
        n = conn.execute(db.devices.update().where(db.devices.c.post == post, db.devices.c.device == device,
                                                   db.devices.c.state != "revoked")
                         .values(state="revoked", revoked_at=time.time())).rowcount
        if n:
            db.add_audit(conn, actor, "revoke", f"{post}/{device}", reason)
    return bool(n)


def listing(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(db.devices).order_by(db.devices.c.post,
                                                                              db.devices.c.device)).mappings()]


class RegistryCache:
    """Keys by (post, device), re-read at most every `ttl` seconds, and at once for a device not yet seen."""

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self.engine, self.ttl = engine, ttl
        self._entries: dict[tuple[str, str], Enrolled] = {}
        self._by_key: dict[tuple[str, str], tuple[str | None, Enrolled]] = {}
        self._loaded = 0.0
        self._missed: dict[tuple[str, str], float] = {}

    def refresh(self) -> None:
        entries = {}
        known = {(e.state, b64): e for b64, e in self._by_key.values()}
        by_key = {}
        for row in listing(self.engine):
            where, b64 = (row["post"], row["device"]), row["public_key_b64"]
            found = known.get((row["state"], b64))   # an unchanged entry keeps its parsed key and verifier
            if found is None:
                key: Ed25519PublicKey | None = public_key_from_b64(b64) if b64 else None
                found = Enrolled(row["state"], key)
            entries[where], by_key[where] = found, (b64, found)
        self._entries, self._by_key, self._loaded = entries, by_key, time.monotonic()

    def __call__(self, post: str, device: str) -> Enrolled | None:
        now = time.monotonic()
        if now - self._loaded > self.ttl:
            self.refresh()
        found = self._entries.get((post, device))
        if found is None and now - self._missed.get((post, device), 0.0) > 1.0:
            self.refresh()   # a database error propagates: the ingest retries the batch, it does not quarantine
            self._missed[(post, device)] = now   # an unknown device cannot make us re-read on every message
            found = self._entries.get((post, device))
        return found


def b64_of(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()
