"""A document read turned into the event's summary, and the transaction code a traveller reads out."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from edge.documents import parse_mrz
from edge.documents.result import MrzResult
from edge.events.model import DocumentSummary

TRANSACTION_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, 8/B, 2/Z)


def new_transaction_code() -> str:
    """Short code a traveller can read out and an officer can type: e.g. 'K7QX-M4TA'."""
    chars = "".join(secrets.choice(TRANSACTION_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def document_summary(mrz_text: str, source: str) -> DocumentSummary:
    """The MRZ parsed and checked, as the crossing event's document summary."""
    return summary_of(parse_mrz(mrz_text), source)


def summary_of(result: MrzResult, source: str) -> DocumentSummary:
    """A parsed or imaged MRZ as the event's document summary (its uncertain fields included)."""
    data = result.to_dict()
    fields = set(DocumentSummary.model_fields) - {"source"}
    return DocumentSummary(**{k: data.get(k) for k in fields if k in data}, source=source)


def offer_page_image(lane: Any, path: Path, source: str) -> bool:
    """An imaged data page (a page camera's or scanner's file) offered to the lane like a reader's MRZ: the
    image reader's result goes in whole, so fields it could not settle reach the officer as "confirm"."""
    from edge.documents.reader import read_mrz_file

    result = read_mrz_file(path).result
    return lane.offer_document("\n".join(result.lines), source, summary_of(result, source))
