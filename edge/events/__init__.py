"""Signed, versioned events: payload models, CloudEvents envelope, sealing of biometrics, JSON Schema."""

from edge.events.envelope import Verdict, build, canonical, encode, new_event_id, verify
from edge.events.model import KINDS, Crossing, Decision, DocumentSummary, FaceResult, FingerResult, event_type

__all__ = [
    "KINDS",
    "Crossing",
    "Decision",
    "DocumentSummary",
    "FaceResult",
    "FingerResult",
    "Verdict",
    "build",
    "canonical",
    "encode",
    "event_type",
    "new_event_id",
    "verify",
]
