"""A document read turned into the event's summary, and the transaction code a traveller reads out."""

from __future__ import annotations

import secrets

from edge.documents import parse_mrz
from edge.events.model import DocumentSummary

TRANSACTION_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, 8/B, 2/Z)


def new_transaction_code() -> str:
    """Short code a traveller can read out and an officer can type: e.g. 'K7QX-M4TA'."""
    chars = "".join(secrets.choice(TRANSACTION_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def document_summary(mrz_text: str, source: str) -> DocumentSummary:
    """The MRZ parsed and checked, as the crossing event's document summary."""
    data = parse_mrz(mrz_text).to_dict()
    fields = set(DocumentSummary.model_fields) - {"source"}
    return DocumentSummary(**{k: data.get(k) for k in fields if k in data}, source=source)
