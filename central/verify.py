"""Check one message from the broker against the device registry, before anything is stored or de-duplicated.

Pure: the registry is a lookup function, so the same rules are tested without a broker or database. The
topic names a post and a device; the event must come from that device's source, be signed by that device's
enrolled key, and carry a payload of the topic's kind. Whatever fails gets a reason code and a reason in words.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pydantic import ValidationError

from central import jcs
from central.rows import parse_time
from edge.events import envelope
from edge.events.model import KINDS, event_type
from edge.identity import key_id as key_id_of

_event_type = functools.cache(event_type)   # the model's schema version is looked up once per kind
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
    """What the registry knows of one device; the key's id and its libsodium form are made once, not per event."""

    state: str                      # active | revoked | awaiting_key
    key: Ed25519PublicKey | None
    key_id: str = field(init=False, default="")
    verifier: VerifyKey | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.key is not None:
            raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            object.__setattr__(self, "key_id", key_id_of(self.key))
            object.__setattr__(self, "verifier", VerifyKey(raw))


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
        event, finite = orjson.loads(payload), True
    except orjson.JSONDecodeError:
        try:   # what orjson refuses (NaN, lone surrogates, deep nesting) is checked on the exact, slow path
            event, finite = json.loads(payload), False
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
    verdict = verify_envelope(event, enrolled, expected, finite=finite)
    if not verdict.ok:
        code = BAD_SIGNATURE if verdict.reason.startswith(("bad signature", "signed by key")) else MALFORMED
        return Quarantined(code, verdict.reason[:300], eid)
    kind = next((k for k in kinds if event["type"] == _event_type(k)), None)
    if kind is None:
        return Quarantined(MALFORMED, f"type {event['type']!r} on topic {topic[:120]!r}", eid)
    data = event["data"]
    try:
        KINDS[kind].model_validate(data)
    except ValidationError as exc:
        return Quarantined(MALFORMED, f"data does not match the {kind} schema: {exc.errors()[0]['msg']}"[:300], eid)
    if kind.startswith("crossing") and (data.get("post"), data.get("device")) != (post, device):
        return Quarantined(WRONG_TOPIC, f"crossing of {data.get('post')}/{data.get('device')} signed by "
                                        f"{post}/{device}", eid)
    # a version-1 crossing (an appliance not yet updated) is stored as a crossing: v2 only added optional parts
    return Accepted(post, device, "crossing" if kind == "crossing_v1" else kind, event["id"],
                    verdict.sequence or 0, event)


def verify_envelope(event: dict[str, Any], enrolled: Enrolled, expected_source: str, *,
                    finite: bool = False) -> envelope.Verdict:
    """`edge.events.envelope.verify`'s envelope and signature rules, with the fast canonical form (central.jcs)
    and libsodium's Ed25519 (half the time of OpenSSL's here); the payload's schema is checked by the caller, for
    the kind the topic allows. `finite`: the event came from orjson, so it holds no NaN or infinity."""
    eid = event.get("id") if isinstance(event.get("id"), str) else None
    for attr in ("specversion", "id", "source", "type", "time", "sequence", "signature", "keyid", "data"):
        if attr not in event:
            return envelope.Verdict(False, f"missing attribute {attr!r}", eid)
    if event["specversion"] != envelope.SPECVERSION:
        return envelope.Verdict(False, f"unsupported specversion {str(event['specversion'])[:20]!r}", eid)
    try:
        seq = int(event["sequence"])
    except (TypeError, ValueError, OverflowError):
        return envelope.Verdict(False, "sequence is not a number", eid)
    if event["source"] != expected_source:
        return envelope.Verdict(False, f"from source {str(event['source'])[:80]!r}, not {expected_source!r}", eid)
    if event["keyid"] != enrolled.key_id:
        return envelope.Verdict(False, f"signed by key {str(event['keyid'])[:20]}, not by {enrolled.key_id}",
                                eid, seq)
    if not isinstance(event["signature"], str) or enrolled.verifier is None:
        return envelope.Verdict(False, "bad signature", eid, seq)
    try:
        unsigned = {k: v for k, v in event.items() if k != "signature"}
        signed = jcs.canonical_finite(unsigned) if finite else jcs.canonical(unsigned)
        enrolled.verifier.verify(signed, base64.urlsafe_b64decode(event["signature"]
                                                                  + "=" * (-len(event["signature"]) % 4)))
    except (BadSignatureError, ValueError, TypeError, RecursionError, binascii.Error):
        return envelope.Verdict(False, "bad signature", eid, seq)
    if not isinstance(event["data"], dict) or not isinstance(event["time"], str) or not isinstance(event["id"], str):
        return envelope.Verdict(False, "id, time or data of the wrong type", eid, seq)
    try:
        parse_time(event["time"])
    except ValueError:
        return envelope.Verdict(False, f"time {event['time'][:40]!r} is not RFC 3339", eid, seq)
    return envelope.Verdict(True, "", eid, seq)


def check_event(topic: str, payload: bytes, prefix: str, lookup: Lookup,
                max_bytes: int = MAX_EVENT_BYTES) -> Accepted | Quarantined:
    """A stored event (`events/crossing`, `events/biometrics`): also its topic names its kind, and it has a sequence."""
    where = parse_topic(topic, prefix)
    if where is not None and where[2] not in ("events/crossing", "events/biometrics"):
        return Quarantined(MALFORMED, f"unknown event topic {where[2][:60]!r}")
    kind = where[2].split("/")[1] if where else "crossing"
    kinds = ("crossing", "crossing_v1") if kind == "crossing" else (kind,)
    out = check_signed(topic, payload, prefix, lookup, kinds, max_bytes)
    if isinstance(out, Accepted) and out.seq < 1:
        return Quarantined(MALFORMED, "a stored event without a sequence number", out.event_id)
    return out
