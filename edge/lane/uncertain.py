"""Uncertain document fields at the booth: what the officer sees of each, and how they settle it.

A document reading that passed every check digit but could not settle some fields (an imaged page whose two
opinions differ, a look-alike repair of a document number) hands the traveller over with the `confirm`
verdict of `document.validity`. The booth shows each such field as read, the other values seen, and a box to
type what the document shows; the officer's choice replaces the field in the queued document (so the crossing
event carries it), `confirmed_fields` says how it was settled, and the audit log says who settled which field
and how (never the value: the audit log holds no personal data). Admitting waits until every field is settled.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from edge.lane.queue import Queued

# Uncertain MRZ field -> the document summary's fields it fills.
FIELDS_OF = {"name": ("surname", "given_names"), "document_code": ("document_code",),
             "issuing_state": ("issuing_state",), "nationality": ("nationality",), "sex": ("sex",),
             "document_number": ("document_number",), "optional_data": ("optional_data",)}
_TYPED = {"name": re.compile(r"^[A-Z][A-Z ]{0,38}(<<[A-Z ]{0,38})?$"), "sex": re.compile(r"^[MFX]$"),
          "document_code": re.compile(r"^[A-Z]{1,2}$"), "issuing_state": re.compile(r"^[A-Z]{1,3}$"),
          "nationality": re.compile(r"^[A-Z]{1,3}$"), "document_number": re.compile(r"^[A-Z0-9]{1,20}$"),
          "optional_data": re.compile(r"^[A-Z0-9 ]{0,20}$")}
How = Literal["as_read", "alternative", "typed"]


def _mrz_value(field: str, doc: dict[str, Any]) -> str:
    """The document's current value of an MRZ field, in the form the alternatives have (names `SURNAME<<GIVEN`)."""
    if field == "name":
        surname, given = (doc.get("surname") or ""), (doc.get("given_names") or "")
        return f"{surname}<<{given}".replace(" ", "<").rstrip("<") if given else surname.replace(" ", "<")
    return str(doc.get(FIELDS_OF.get(field, (field,))[0]) or "")


def _readable(field: str, value: str) -> str:
    """An MRZ value as the officer reads it: `<` as spaces, a name as `SURNAME, GIVEN NAMES`."""
    if field == "name":
        surname, _, given = value.partition("<<")
        return ", ".join(p for p in (surname.replace("<", " ").strip(), given.replace("<", " ").strip()) if p)
    return value.replace("<", " ").strip()


def open_fields(q: Queued) -> list[str]:
    """The uncertain fields the officer has not settled yet."""
    doc = q.data.get("document") or {}
    done = doc.get("confirmed_fields") or {}
    return [f for f in (doc.get("uncertain_fields") or {}) if f not in done]


def booth_fields(q: Queued) -> list[dict[str, Any]]:
    """Each uncertain field: as read, the alternatives (value, readable), and how it was settled if it was."""
    doc = q.data.get("document") or {}
    done = doc.get("confirmed_fields") or {}
    out = []
    for field, alternatives in (doc.get("uncertain_fields") or {}).items():
        read = _mrz_value(field, doc)
        alts = [a for a in dict.fromkeys(alternatives) if a and a != read]
        out.append({"field": field, "read": read, "read_text": _readable(field, read),
                    "alternatives": [(a, _readable(field, a)) for a in alts], "settled": done.get(field)})
    return out


def _apply(doc: dict[str, Any], field: str, value: str) -> None:
    if field == "name":
        surname, _, given = value.partition("<<")
        doc["surname"] = " ".join(surname.replace("<", " ").split()) or None
        doc["given_names"] = " ".join(given.replace("<", " ").split()) or None
    elif field == "sex":
        doc["sex"] = "X" if value in ("<", "X") else value
    else:
        doc[FIELDS_OF.get(field, (field,))[0]] = value.replace("<", " ").strip() or None


def confirm_field(lane: Any, code: str, officer: str, field: str, choice: str, typed: str = "") -> bool:
    """Settle one uncertain field of a queued transaction: `choice` is "as_read", an alternative's index ("0",
    "1", ...) or "typed" (then `typed` holds what the document shows). False when there is no such field or
    the typed value cannot be that field."""
    with lane.lock:
        q = lane.get(code)
        if q is None:
            return False
        data = dict(q.data)
        doc = dict(data.get("document") or {})
        entry = next((f for f in booth_fields(q) if f["field"] == field), None)
        if entry is None:
            return False
        how: How
        if choice == "as_read":
            how, value = "as_read", entry["read"]
        elif choice == "typed":
            value = " ".join(typed.upper().split())
            value = value.replace(", ", "<<").replace(",", "<<") if field == "name" else value
            if not _TYPED[field].match(value):
                return False
            how = "typed"
        elif choice.isdigit() and int(choice) < len(entry["alternatives"]):
            how, value = "alternative", entry["alternatives"][int(choice)][0]
        else:
            return False
        _apply(doc, field, value)
        doc["confirmed_fields"] = {**(doc.get("confirmed_fields") or {}), field: how}
        data["document"] = doc
        with lane.store.transaction() as tx:
            lane.store.conn.execute("UPDATE queue SET data = ? WHERE code = ?", (json.dumps(data), code))
            tx.audit(officer, "booth.document_confirmed", code, {"field": field, "how": how})
        lane.queue_version += 1
        return True
