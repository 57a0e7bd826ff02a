"""Commands from the agency: accepted only when signed by the agency's command key, fresh and not replayed.

A command is a JSON object {"id", "name", "target": "<post>/<device>", "issued_at" (unix s),
"args": {...}, "signature": base64url Ed25519 over RFC 8785 JSON of every other field}. Anything else
is rejected with a reason that goes back in `cmd/<name>/result` and into the log (no payload logged).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.events.envelope import canonical

COMMANDS = ("ping", "resend", "reload", "update")   # update: edge.update.job
MAX_AGE_S = 600.0        # a command older than this is refused (with the replay table, stops replays)
MAX_SKEW_S = 120.0       # ... and one from too far in the future
MAX_BYTES = 16 * 1024


class TokenBucket:
    """At most `rate` per second on average, `burst` (default: one second's worth) at once."""

    def __init__(self, rate: float, burst: float | None = None, now: float | None = None) -> None:
        self.rate = rate
        self.burst = rate if burst is None else burst
        self._tokens = self.burst
        self._at = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class Command:
    id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    command_id: str | None
    reason: str


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check(payload: bytes, topic_name: str, target: str, key: Ed25519PublicKey | None,
          now: float | None = None) -> Command | Rejection:
    """Validate one command message. Pure apart from the clock; replay is checked by the caller's store."""
    now = time.time() if now is None else now
    if len(payload) > MAX_BYTES:
        return Rejection(None, "command too large")
    try:
        msg = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested thousands deep
        return Rejection(None, "command is not JSON")
    if not isinstance(msg, dict):
        return Rejection(None, "command is not a JSON object")
    cid = msg.get("id") if isinstance(msg.get("id"), str) else None
    if key is None:
        return Rejection(cid, "no agency command key is configured: commands are refused")
    for name, typ in (("id", str), ("name", str), ("target", str), ("issued_at", int | float),
                      ("args", dict), ("signature", str)):
        if not isinstance(msg.get(name), typ) or isinstance(msg.get(name), bool):
            return Rejection(cid, f"field {name!r} missing or of the wrong type")
    unsigned = {k: v for k, v in msg.items() if k != "signature"}
    try:
        key.verify(_b64u_decode(msg["signature"]), canonical(unsigned))
    except (InvalidSignature, ValueError, RecursionError):  # ValueError: also what JCS cannot express (NaN, 2**60)
        return Rejection(cid, "bad signature")
    if msg["name"] != topic_name:
        return Rejection(cid, f"command {msg['name']!r} sent on the topic of {topic_name!r}")
    if msg["target"] != target:
        return Rejection(cid, f"command is for {msg['target']!r}, not this device")
    if msg["name"] not in COMMANDS:
        return Rejection(cid, f"unknown command {msg['name']!r}")
    age = now - float(msg["issued_at"])
    if age > MAX_AGE_S or age < -MAX_SKEW_S:
        return Rejection(cid, "command expired or issued in the future")
    return Command(msg["id"], msg["name"], msg["args"])


def sign(name: str, args: dict[str, Any], target: str, key: Ed25519PrivateKey, command_id: str,
         issued_at: float | None = None) -> bytes:
    """The agency's side (used by tests and tools): a signed command message."""
    msg: dict[str, Any] = {"id": command_id, "name": name, "target": target,
                           "issued_at": int(time.time() if issued_at is None else issued_at), "args": args}
    msg["signature"] = base64.urlsafe_b64encode(key.sign(canonical(msg))).rstrip(b"=").decode()
    return json.dumps(msg).encode()
