"""Check one message from the broker against the device registry, before anything is stored or de-duplicated.

Pure: the registry is a lookup function, so the same rules are tested without a broker or database. The
topic names a post and a device; the event must come from that device's source, be signed by that device's
enrolled key, and carry a payload of the topic's kind. Whatever fails gets a reason code and a reason in words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.events import envelope
from edge.events.model import event_type

MAX_EVENT_BYTES = 1024 * 1024  # a crossing is ~2 KB; sealed biometrics a few hundred KB

# reason codes (the quarantine's vocabulary; docs/central.md)
OVERSIZED = "oversized"
MALFORMED = "malformed"
UNKNOWN_DEVICE = "unknown_device"
REVOKED_DEVICE = "revoked_device"
WRONG_TOPIC = "wrong_topic"
BAD_SIGNATURE = "bad_signature"
CONFLICT = "conflicting_duplicate"
REASON_CODES = (OVERSIZED, MALFORMED, UNKNOWN_DEVICE, REVOKED_DEVICE, WRONG_TOPIC, BAD_SIGNATURE, CONFLICT)


@dataclass(frozen=True)
class Enrolled:
    """What the registry knows of one device."""

    state: str                      # active | revoked | awaiting_key
    key: Ed25519PublicKey | None


Lookup = Callable[[str, str], Enrolled | None]


@dataclass(frozen=True)
class Accepted:
    post: str
    device: str
    kind: str
    event_id: str
    seq: int
    event: dict[str, Any]


@dataclass(frozen=True)
class Quarantined:
    reason_code: str
    reason: str
    event_id: str | None = None


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


def parse_topic(topic: str, prefix: str) -> tuple[str, str, str] | None:
    """`<prefix>/<post>/<device>/<rest>` -> (post, device, rest), None for anything else."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def check_signed(topic: str, payload: bytes, prefix: str, lookup: Lookup, kinds: tuple[str, ...],
                 max_bytes: int = MAX_EVENT_BYTES) -> Accepted | Quarantined:
    """The rules every signed message passes; `kinds` are the payload kinds allowed on this topic."""
    if len(payload) > max_bytes:
        return Quarantined(OVERSIZED, f"{len(payload)} bytes, over the limit of {max_bytes}")
    where = parse_topic(topic, prefix)
    if where is None:
        return Quarantined(MALFORMED, "topic outside the device tree")
    post, device, _ = where
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Quarantined(MALFORMED, "not JSON")
    if not isinstance(event, dict):
        return Quarantined(MALFORMED, "not a JSON object")
    eid = event.get("id") if isinstance(event.get("id"), str) else None
    eid = eid[:100] if eid else None
    enrolled = lookup(post, device)
    if enrolled is None or enrolled.state == "awaiting_key" or enrolled.key is None:
        return Quarantined(UNKNOWN_DEVICE, f"device {post}/{device} is not enrolled", eid)
    if enrolled.state == "revoked":
        return Quarantined(REVOKED_DEVICE, f"device {post}/{device} is revoked", eid)
    expected = envelope.source_for(post, device)
    if "source" in event and event["source"] != expected:
        return Quarantined(WRONG_TOPIC, f"event from {str(event['source'])[:80]!r} published on the topic of "
                                        f"{post}/{device}", eid)
    verdict = envelope.verify(event, enrolled.key, expected_source=expected)
    if not verdict.ok:
        code = BAD_SIGNATURE if verdict.reason.startswith(("bad signature", "signed by key")) else MALFORMED
        return Quarantined(code, verdict.reason[:300], eid)
    kind = next((k for k in kinds if event["type"] == event_type(k)), None)
    if kind is None:
        return Quarantined(MALFORMED, f"type {event['type']!r} on topic {topic[:120]!r}", eid)
    data = event["data"]
    if kind == "crossing" and (data.get("post"), data.get("device")) != (post, device):
        return Quarantined(WRONG_TOPIC, f"crossing of {data.get('post')}/{data.get('device')} signed by "
                                        f"{post}/{device}", eid)
    return Accepted(post, device, kind, event["id"], verdict.sequence or 0, event)


def check_event(topic: str, payload: bytes, prefix: str, lookup: Lookup,
                max_bytes: int = MAX_EVENT_BYTES) -> Accepted | Quarantined:
    """A stored event (`events/crossing`, `events/biometrics`): also its topic names its kind, and it has a sequence."""
    where = parse_topic(topic, prefix)
    if where is not None and where[2] not in ("events/crossing", "events/biometrics"):
        return Quarantined(MALFORMED, f"unknown event topic {where[2][:60]!r}")
    kind = where[2].split("/")[1] if where else "crossing"
    out = check_signed(topic, payload, prefix, lookup, (kind,), max_bytes)
    if isinstance(out, Accepted) and out.seq < 1:
        return Quarantined(MALFORMED, "a stored event without a sequence number", out.event_id)
    return out
