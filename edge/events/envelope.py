"""CloudEvents 1.0 envelopes, signed by the device with Ed25519 over the RFC 8785 canonical form.

Why CloudEvents: it is the CNCF standard envelope with an MQTT binding, so the agency's consumers
(Knative, Azure Event Grid, plain code) route on `type`/`source` without reading our payloads, and its
documented `sequence` extension carries our per-device order. The signature is an extension attribute
(`signature`, base64url of Ed25519 over JCS of every other attribute), with `keyid` naming the key.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ValidationError
from uuid6 import uuid7

from edge.clock import rfc3339
from edge.events.model import KINDS, event_type
from edge.identity import key_id

SPECVERSION = "1.0"
SEQUENCE_DIGITS = 20  # zero-padded, so the string sequence sorts like the number (CloudEvents Sequence ext.)


def source_for(post: str, device: str) -> str:
    return f"/borderpost/{post}/{device}"


def new_event_id() -> str:
    return str(uuid7())


def canonical(obj: Any) -> bytes:
    """RFC 8785 canonical JSON: what the signature covers, byte for byte."""
    return rfc8785.dumps(obj)


def _json_safe(obj: Any) -> Any:
    """What JSON (and so JCS and the wire) cannot carry, made carriable, so a crossing is recorded rather than lost
    to an encoding error: lone surrogates (text that is not Unicode) become U+FFFD; NaN and infinities become
    null, as in pydantic's own JSON (every float a crossing carries is optional: null means 'no score')."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return obj.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return obj
    if isinstance(obj, dict):
        return {_json_safe(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def build(
    kind: str,
    data: BaseModel,
    *,
    key: Ed25519PrivateKey,
    post: str,
    device: str,
    sequence: int,
    time: datetime,
    clock_synced: bool,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A complete, signed CloudEvent as a dict (ready to serialise with `encode`)."""
    event: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": event_id or new_event_id(),
        "source": source_for(post, device),
        "type": event_type(kind),
        "time": rfc3339(time),
        "datacontenttype": "application/json",
        "dataschema": f"urn:borderpost:schema:{kind}:{data.model_dump()['schema_version']}",
        "sequence": f"{sequence:0{SEQUENCE_DIGITS}d}",
        "clocksynced": bool(clock_synced),
        "keyid": key_id(key.public_key()),
        "data": _json_safe(data.model_dump(mode="json")),
    }
    event["signature"] = _b64u(key.sign(canonical(event)))
    return event


def encode(event: dict[str, Any]) -> bytes:
    """The bytes published and stored: compact JSON (not canonical; verification re-canonicalises)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    event_id: str | None = None
    sequence: int | None = None


def verify(event: dict[str, Any] | bytes | str, public_key: Ed25519PublicKey,
           expected_source: str | None = None) -> Verdict:
    """Check envelope, payload schema and signature. Never raises; says why it failed.

    A signature proves which key signed, not which device: a consumer that looks the key up by device
    passes that device's `expected_source` (`source_for(post, device)`), so one device's valid key cannot
    vouch for events claiming to come from another.
    """
    if isinstance(event, bytes | str):
        try:
            event = json.loads(event)
        except (ValueError, UnicodeDecodeError) as exc:
            return Verdict(False, f"not JSON: {exc}")
        except RecursionError:
            return Verdict(False, "not JSON: nested too deeply")
    if not isinstance(event, dict):
        return Verdict(False, "not a JSON object")
    eid = event.get("id") if isinstance(event.get("id"), str) else None
    for attr in ("specversion", "id", "source", "type", "time", "sequence", "signature", "keyid", "data"):
        if attr not in event:
            return Verdict(False, f"missing attribute {attr!r}", eid)
    if event["specversion"] != SPECVERSION:
        return Verdict(False, f"unsupported specversion {event['specversion']!r}", eid)
    try:
        seq = int(event["sequence"])
    except (TypeError, ValueError, OverflowError):
        return Verdict(False, "sequence is not a number", eid)
    if expected_source is not None and event["source"] != expected_source:
        return Verdict(False, f"from source {str(event['source'])[:80]!r}, not {expected_source!r}", eid, seq)
    if event["keyid"] != key_id(public_key):
        return Verdict(False, f"signed by key {event['keyid']}, not by {key_id(public_key)}", eid, seq)
    unsigned = {k: v for k, v in event.items() if k != "signature"}
    try:
        public_key.verify(_unb64u(str(event["signature"])), canonical(unsigned))
    except (InvalidSignature, ValueError, RecursionError):  # ValueError: also what JCS cannot express (NaN, 2**60)
        return Verdict(False, "bad signature", eid, seq)
    kind = _kind_of(str(event["type"]))
    if kind is None:
        return Verdict(False, f"unknown type {event['type']!r}", eid, seq)
    try:
        KINDS[kind].model_validate(event["data"])
    except ValidationError as exc:
        return Verdict(False, f"data does not match the {kind} schema: {exc.errors()[0]['msg']}", eid, seq)
    return Verdict(True, "", eid, seq)


def _kind_of(type_: str) -> str | None:
    return next((kind for kind in KINDS if type_ == event_type(kind)), None)
