"""Alert-list entries and delta operations, parsed from JSON Lines (pure; one malformed line refuses all).

An entry: {"id", "kind": "document"|"person", "reason", "action": "refer"|"refuse"|"notify"} plus optional
document_code, issuing_state, document_number, surname, given_names, birth_date (YYYY-MM-DD | YYYY-MM | YYYY),
nationality, sex. A document entry needs issuing_state and document_number; a person entry a surname or
given names. Unknown keys are refused (a misspelt field would otherwise be silently ignored).
A delta line is {"op": "add", "entry": {...}} (add or replace by id) or {"op": "remove", "id": "..."}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

from edge.alerts.normalise import entry_date

KINDS = ("document", "person")
ACTIONS = ("refer", "refuse", "notify")
MAX_LINE_BYTES = 8192
_FIELDS = {"id", "kind", "reason", "action", "document_code", "issuing_state", "document_number", "surname",
           "given_names", "birth_date", "nationality", "sex"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_CODE = re.compile(r"^[A-Z<]{1,3}$")
_NUMBER = re.compile(r"^[A-Za-z0-9< -]{1,30}$")
_DOC_CODE = re.compile(r"^[A-Z<]{1,2}$")


class ListError(ValueError):
    """The list (or one of its lines) is refused; the message names the line and why."""


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    kind: str
    reason: str
    action: str
    document_code: str | None = None
    issuing_state: str | None = None
    document_number: str | None = None
    surname: str | None = None
    given_names: str | None = None
    birth_date: str | None = None
    nationality: str | None = None
    sex: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k in ENTRY_FIELDS if (v := getattr(self, k)) is not None}


ENTRY_FIELDS = tuple(f.name for f in fields(Entry))


@dataclass(frozen=True, slots=True)
class Op:
    """One delta change: add (or replace) an entry, or remove the entry with this id."""

    op: str
    id: str
    entry: Entry | None = None


def _text(obj: dict, key: str, limit: int, pattern: re.Pattern[str] | None = None) -> str | None:
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"{key}: expected a non-empty string")
    if len(v) > limit:
        raise ValueError(f"{key}: longer than {limit} characters")
    if pattern is not None and not pattern.match(v):
        raise ValueError(f"{key}: not a valid value ({pattern.pattern})")
    return v


def entry_from_obj(obj: object) -> Entry:
    """An `Entry` from a decoded JSON object; ValueError saying which field is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    if not _FIELDS.issuperset(obj):
        raise ValueError(f"unknown field {sorted(set(obj) - _FIELDS)[0]!r}")
    eid = _text(obj, "id", 128, _ID)
    if eid is None:
        raise ValueError("id: required")
    kind, action = obj.get("kind"), obj.get("action")
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}")
    if action not in ACTIONS:
        raise ValueError(f"action: expected one of {', '.join(ACTIONS)}")
    reason = _text(obj, "reason", 500)
    if reason is None:
        raise ValueError("reason: required")
    birth = _text(obj, "birth_date", 10)
    entry_date(birth)
    sex = obj.get("sex")
    if sex is not None and sex not in ("M", "F", "X", "<"):
        raise ValueError("sex: expected M, F, X or <")
    e = Entry(
        id=eid, kind=kind, reason=reason, action=action,
        document_code=_text(obj, "document_code", 2, _DOC_CODE),
        issuing_state=_text(obj, "issuing_state", 3, _CODE),
        document_number=_text(obj, "document_number", 30, _NUMBER),
        surname=_text(obj, "surname", 200), given_names=_text(obj, "given_names", 200),
        birth_date=birth, nationality=_text(obj, "nationality", 3, _CODE), sex=sex,
    )
    if kind == "document" and (e.issuing_state is None or e.document_number is None):
        raise ValueError("a document entry needs issuing_state and document_number")
    if kind == "person" and not (e.surname or e.given_names):
        raise ValueError("a person entry needs surname or given_names")
    return e


def _lines(data: bytes | Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    chunks = data.splitlines() if isinstance(data, bytes | bytearray) else data
    for n, raw in enumerate(chunks, 1):
        line = raw.strip()
        if line:
            yield n, line


def _decode(n: int, line: bytes) -> object:
    if len(line) > MAX_LINE_BYTES:
        raise ListError(f"line {n}: longer than {MAX_LINE_BYTES} bytes")
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ListError(f"line {n}: not JSON ({str(exc).split(':')[0]})") from None


def iter_entries(data: bytes | Iterable[bytes]) -> Iterator[tuple[int, Entry]]:
    """(line number, entry) of a snapshot list, one at a time; ListError at the first bad line. Duplicate ids
    are the caller's to find (the database's key does, without a set of every id in memory)."""
    for n, _line, e in iter_entry_lines(data):
        yield n, e


def iter_entry_lines(data: bytes | Iterable[bytes]) -> Iterator[tuple[int, bytes, Entry]]:
    """(line number, the line, its entry): as `iter_entries`, with the validated line itself."""
    for n, line in _lines(data):
        try:
            yield n, line, entry_from_obj(_decode(n, line))
        except ListError:
            raise
        except ValueError as exc:
            raise ListError(f"line {n}: {exc}") from None


def parse_entries(data: bytes | Iterable[bytes]) -> list[Entry]:
    """Every entry of a snapshot list; ListError naming the first bad line (and duplicate ids)."""
    out: list[Entry] = []
    seen: set[str] = set()
    for n, e in iter_entries(data):
        if e.id in seen:
            raise ListError(f"line {n}: id {e.id!r} appears twice")
        seen.add(e.id)
        out.append(e)
    return out


def iter_ops(data: bytes | Iterable[bytes]) -> Iterator[tuple[int, Op]]:
    """(line number, change) of a delta; ListError naming the first bad line."""
    for n, line in _lines(data):
        obj = _decode(n, line)
        try:
            if not isinstance(obj, dict) or obj.get("op") not in ("add", "remove"):
                raise ValueError('expected {"op": "add", "entry": {...}} or {"op": "remove", "id": "..."}')
            if obj["op"] == "add":
                if set(obj) != {"op", "entry"}:
                    raise ValueError("an add has exactly the keys op and entry")
                e = entry_from_obj(obj["entry"])
                yield n, Op("add", e.id, e)
            else:
                if set(obj) != {"op", "id"} or not isinstance(obj["id"], str) or not _ID.match(obj["id"]):
                    raise ValueError("a remove has exactly the keys op and id (a valid id)")
                yield n, Op("remove", obj["id"])
        except ValueError as exc:
            raise ListError(f"line {n}: {exc}") from None


def parse_ops(data: bytes | Iterable[bytes]) -> list[Op]:
    """Every change of a delta; ListError naming the first bad line."""
    return [op for _, op in iter_ops(data)]


def dump_entries(entries: Iterable[Entry]) -> bytes:
    return b"".join(json.dumps(e.to_dict(), ensure_ascii=False).encode() + b"\n" for e in entries)
