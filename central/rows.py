"""From a verified crossing event to the row the statistics count: pure, no names or document numbers kept.

The document is reduced to nationality, sex and an age band; the traveller is a keyed hash (HMAC-SHA256 with the
agency's pseudonym key) of issuing state, document number and birth date, so an entry and its exit pair up
without the row naming anyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

AGE_BANDS = ((0, 17, "0-17"), (18, 29, "18-29"), (30, 44, "30-44"), (45, 59, "45-59"), (60, 200, "60+"))
UNKNOWN = "unknown"


def parse_time(text: str) -> dt.datetime:
    """RFC 3339 as the device signed it (Z or offset) -> aware UTC datetime."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def age_band(birth_date: str | None, on: dt.date) -> str:
    if not birth_date:
        return UNKNOWN
    try:
        born = dt.date.fromisoformat(birth_date)
    except ValueError:
        return UNKNOWN
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return next((label for lo, hi, label in AGE_BANDS if lo <= years <= hi), UNKNOWN)


def traveller_pseudonym(document: dict[str, Any] | None, key: bytes) -> str | None:
    if not document or not document.get("document_number"):
        return None
    ident = "|".join(str(document.get(k) or "") for k in ("issuing_state", "document_number", "birth_date"))
    return hmac.new(key, ident.encode(), hashlib.sha256).hexdigest()[:32]


def crossing_row(event: dict[str, Any], pseudonym_key: bytes) -> dict[str, Any]:
    """The statistics row of one verified crossing event."""
    data = event["data"]
    when = parse_time(event["time"])
    doc = data.get("document") or {}
    decision = data.get("decision") or {}
    by = decision.get("by")
    return {
        "event_id": event["id"],
        "time": when,
        "day": when.date(),
        "post": data["post"],
        "device": data["device"],
        "role": data.get("role"),
        "direction": data.get("direction") or UNKNOWN,
        "nationality": doc.get("nationality") or UNKNOWN,
        "sex": doc.get("sex") or UNKNOWN,
        "age_band": age_band(doc.get("birth_date"), when.date()),
        "outcome": decision.get("outcome") or UNKNOWN,
        "decided_by": None if by is None else ("kiosk" if by == "kiosk" else "officer"),
        "reason_codes": " ".join(str(c) for c in decision.get("reason_codes") or []),
        "alert_hits": len(data.get("alerts") or []),
        "traveller": traveller_pseudonym(doc, pseudonym_key),
    }
