"""Commands to devices, signed with the agency's command key (which exists only here), each one audited.

The message is the one the appliance checks in `edge.uplink.commands.check`: {"id", "name", "target",
"issued_at", "args", "signature"} with an Ed25519 signature over the RFC 8785 JSON of the other fields.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from uuid6 import uuid7

from central import db
from edge.events.envelope import canonical

COMMANDS = ("ping", "resend", "reload")


class KeyError_(Exception):
    """The agency key file is missing, unreadable or not an Ed25519 private key."""


def create_key(path: Path) -> tuple[Path, Path]:
    """A new agency command key (0600) and its public half (`<name>.pub.pem`) for the appliances' configs."""
    if path.exists():
        raise KeyError_(f"{path} exists: refusing to replace an agency key")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    pub = path.with_suffix(".pub.pem")
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return path, pub


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise KeyError_(f"{path}: cannot load the agency command key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"{path}: not an Ed25519 private key")
    if path.stat().st_mode & 0o077:
        raise KeyError_(f"{path}: the agency key is readable by others; chmod 600 it")
    return key


def sign(name: str, args: dict[str, Any], target: str, key: Ed25519PrivateKey, command_id: str,
         issued_at: float) -> bytes:
    msg: dict[str, Any] = {"id": command_id, "name": name, "target": target, "issued_at": int(issued_at),
                           "args": args}
    msg["signature"] = base64.urlsafe_b64encode(key.sign(canonical(msg))).rstrip(b"=").decode()
    return json.dumps(msg, separators=(",", ":")).encode()


def topic(prefix: str, post: str, device: str, name: str) -> str:
    return f"{prefix}/{post}/{device}/cmd/{name}"


def issue(engine: Engine, key: Ed25519PrivateKey, post: str, device: str, name: str, args: dict[str, Any],
          actor: str) -> tuple[str, bytes]:
    """Record and audit a command, then return (id, signed message) for the caller to publish."""
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r} (one of {', '.join(COMMANDS)})")
    cid, now = str(uuid7()), time.time()
    payload = sign(name, args, f"{post}/{device}", key, cid, now)
    with engine.begin() as conn:
        conn.execute(db.commands.insert().values(id=cid, name=name, post=post, device=device,
                                                 args=json.dumps(args, sort_keys=True), issued_at=now,
                                                 issued_by=actor))
        db.add_audit(conn, actor, f"command {name}", f"{post}/{device}", f"id {cid} args {json.dumps(args)}")
    return cid, payload
