"""Check-digit steering over the OCR engine's own alternatives for each character.

Tesseract's legacy engine confuses OCR-B look-alikes (0/O, 5/S, 2/Z, 8/B, 1/I, W/N) the same way on
every attempt, so re-reading does not help; but it does rank the right character among its
alternatives. Per checked field, the cheapest combinations of alternatives (cost = confidence given
up against the best candidate) that make the field's check digit verify are kept; then the fields
are combined so the composite verifies too. The cheapest valid reading wins only if no other valid
reading with different checked characters comes close in cost; otherwise the read stays invalid.
Candidates come from the engine, within `DELTA` confidence points of its best, and must fit the
field (letters in names and codes, digits in dates and check digits).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools

from edge.documents.checkdigit import check_digit
from edge.documents.layout import Layout, layout_for
from edge.documents.mrz import MrzResult
from edge.documents.ocr import Choices
from edge.documents.steer import correct_ocr

DELTA = 12.0        # alternatives within this many confidence points of the best candidate are considered
MARGIN = 4.0        # a different valid reading this close in total cost makes the read ambiguous
KEEP = 4            # verifying variants kept per checked field
MAX_POPS = 4000     # search budget per field

LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ<")
DIGITS = frozenset("0123456789")
ANY = LETTERS | DIGITS


def _allowed(lay: Layout) -> list[frozenset[str]]:
    allowed = [ANY] * lay.total
    kinds = {
        "document_code": LETTERS, "issuing_state": LETTERS, "nationality": LETTERS, "name": LETTERS,
        "sex": frozenset("MFX<"), "birth_date": DIGITS | {"<"}, "expiry_date": DIGITS | {"<"},
        "birth_date_cd": DIGITS, "expiry_date_cd": DIGITS, "composite": DIGITS,
        "document_number_cd": DIGITS | {"<"}, "optional_data_cd": DIGITS | {"<"},
    }
    for name, kind in kinds.items():
        if name in lay.fields:
            a, b = lay.fields[name]
            allowed[a:b] = [kind] * (b - a)
    return allowed


def _candidates(choices: Choices, allowed: frozenset[str]) -> list[tuple[str, float]]:
    fitting = [(c, conf) for c, conf in choices if c in allowed]
    if not fitting:
        return [(choices[0][0], 0.0)] if choices else [("<", 0.0)]
    top = fitting[0][1]
    return [(c, top - conf) for c, conf in fitting if top - conf <= DELTA]


def _field_variants(cands: list[list[tuple[str, float]]], positions: list[int], verify) -> list[tuple[float, dict]]:
    """Cheapest assignments to `positions` that `verify` accepts (best-first over choice indices)."""
    start = (0.0, (0,) * len(positions))
    heap, seen, found, pops = [start], {start[1]}, [], 0
    while heap and len(found) < KEEP and pops < MAX_POPS:
        cost, idx = heapq.heappop(heap)
        pops += 1
        assign = {p: cands[p][i][0] for p, i in zip(positions, idx, strict=True)}
        if verify(assign):
            found.append((cost, assign))
        for k, p in enumerate(positions):
            if idx[k] + 1 < len(cands[p]):
                nxt = (*idx[:k], idx[k] + 1, *idx[k + 1:])
                if nxt not in seen:
                    seen.add(nxt)
                    extra = cands[p][idx[k] + 1][1] - cands[p][idx[k]][1]
                    heapq.heappush(heap, (cost + extra, nxt))
    return found


def steer(lines: list[list[Choices]], today: dt.date | None = None) -> MrzResult | None:
    """The valid reading the check digits single out among the engine's alternatives, or None."""
    lines = [ln for ln in lines if len(ln) >= 20]
    if not lines:
        return None
    length = len(lines[-1])
    n = 3 if length == 30 else 2
    lines = lines[-n:]
    if len(lines) != n or any(len(ln) != length for ln in lines):
        return None
    flat = [c for ln in lines for c in ln]
    lay = layout_for(n, length, flat[0][0][0] if flat[0] else "<")
    if lay is None:
        return None
    allowed = _allowed(lay)
    cands = [_candidates(ch, ok) for ch, ok in zip(flat, allowed, strict=True)]
    base = [c[0][0] for c in cands]
    per_field = []
    for name, (data_field, cd_field) in lay.checked.items():
        a, b = lay.fields[data_field]
        cd = lay.fields[cd_field][0]
        if name == "document_number" and lay.overflow and base[cd] == "<":
            per_field.append([(0.0, {})])       # long number: leave it to the parser
            continue

        def verify(assign: dict, a: int = a, b: int = b, cd: int = cd, name: str = name) -> bool:
            data = "".join(assign.get(p, base[p]) for p in range(a, b))
            digit = assign.get(cd, base[cd])
            if digit == "<":
                return name == "optional_data" and set(data) == {"<"}
            return check_digit(data) == digit

        variants = _field_variants(cands, [*range(a, b), cd], verify)
        if not variants:
            return None
        per_field.append(variants)
    readings = []
    for combo in itertools.product(*per_field):
        chars = base.copy()
        cost = 0.0
        for c, assign in combo:
            cost += c
            for p, ch in assign.items():
                chars[p] = ch
        if lay.composite:
            c = lay.fields["composite"][0]
            want = check_digit("".join("".join(chars[a:b]) for a, b in lay.composite))
            options = [(ch, k) for ch, k in cands[c] if ch == want]
            if not options:
                continue
            chars[c] = want
            cost += options[0][1]
        readings.append((cost, "".join(chars)))
    readings.sort()
    valid = []
    for cost, text in readings:
        result = correct_ocr("\n".join(text[i:i + length] for i in range(0, lay.total, length)), today)
        if result.valid:
            valid.append((cost, text, result))
            if len(valid) == 2:
                break
    if not valid or (len(valid) == 2 and valid[1][0] - valid[0][0] < MARGIN):
        return None
    cost, text, result = valid[0]
    changed = sum(1 for x, y in zip(text, base, strict=True) if x != y)
    note = f"check digits chose {changed} character(s) among the OCR engine's alternatives (cost {cost:.1f})"
    return dataclasses.replace(result, corrections=(*result.corrections, note))
