"""Two opinions and the check digits: the OCR-B recogniser's reading, tesseract's, and what they may not settle.

Pure. Each position's candidates are the recogniser's probable characters that fit the field (letters
in names and codes, digits in dates); a character costs -ln p, plus `DISSENT` when tesseract read
something else there. Checked fields take the cheapest combination their check digits (and the
composite) accept. Then the read is examined for what no check digit can settle:

* a field without a check digit (names, codes, sex, visa optional data) where the runner-up is close
  (`CLOSE`) or the two opinions disagree;
* a checked field where another reading also verifies and either opinion holds it: two confusions
  that cancel in the 7-3-1 sum (W read as H twice), or one that keeps the value modulo 10 (M/W, 1/L).

Such fields go to `uncertain_fields` with the other values seen, and the read is not `valid`: the
officer confirms them. A read is clean only when both opinions and the check digits leave no doubt.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math

import numpy as np

from edge.documents.checkdigit import check_digit
from edge.documents.choices import _allowed, _field_variants
from edge.documents.layout import Layout
from edge.documents.mrz import MrzResult, parse_mrz
from edge.documents.ocr import Choices

CLOSE = 0.25        # runner-up probability that makes an unchecked character uncertain
DISSENT = 2.0       # cost (nats) of a character tesseract did not read there
TESS_NEAR = 8.0     # tesseract "read" a character when it ranks it within this many confidence points of its best
DELTA = 9.0         # candidates dearer than the best by more than this are not considered
MAX_CANDS = 4
AMBIGUOUS = 4.0     # another verifying reading this close in cost (nats: ~55x less likely) is an alternative
UNCHECKED = ("document_code", "issuing_state", "nationality", "name", "sex")
# Tesseract's legacy engine reads OCR-B W as H, N or U and M as H or N under blur (development pages: 27 of
# its 28 wrong W/M reads that left the true letter out of its choices), while the recogniser has read no H, N
# or U as a sure W or M there. Such a read is no dissent when the recogniser is sure and sees no trace of it.
TESS_MISREADS = {"W": frozenset("HNU"), "M": frozenset("HN")}
SURE = 0.999        # the recogniser's probability for its letter, and at most 1 - SURE for tesseract's


def _tess_reads(choices: Choices) -> frozenset[str]:
    """The characters tesseract stands behind at one position: its best and those ranked close to it
    (the legacy engine ranks OCR-B W second to N at some sizes; that is not a dissent)."""
    if not choices:
        return frozenset()
    top = choices[0][1]
    return frozenset(c for c, conf in choices if top - conf <= TESS_NEAR)


def _tess_dissents(probs: np.ndarray, classes: str, chosen: str, tess: str | None, tess_ok: frozenset[str],
                   allowed: frozenset[str]) -> bool:
    """Whether tesseract read another character than `chosen` here, one the field may hold, and not merely
    its known misreading of a letter the recogniser is sure of (`TESS_MISREADS`)."""
    if tess is None or not tess_ok or chosen in tess_ok or tess not in allowed:
        return False
    if tess in TESS_MISREADS.get(chosen, ()):
        return not (float(probs[classes.index(chosen)]) >= SURE and float(probs[classes.index(tess)]) <= 1 - SURE)
    return True


def _candidates(probs: np.ndarray, classes: str, allowed: frozenset[str], tess: frozenset[str] | None
                ) -> list[tuple[str, float]]:
    costs = []
    for i, c in enumerate(classes):
        if c in allowed:
            cost = -math.log(max(float(probs[i]), 1e-6)) + (DISSENT if tess and c not in tess else 0.0)
            costs.append((cost, c))
    costs.sort()
    top = costs[0][0]
    return [(c, cost - top) for cost, c in costs[:MAX_CANDS] if cost - top <= DELTA]


def _rows(lay: Layout, text: str) -> str:
    return "\n".join(text[i:i + lay.length] for i in range(0, lay.total, lay.length))


def _unchecked(lay: Layout) -> list[str]:
    names = [n for n in UNCHECKED if n in lay.fields]
    if not lay.composite:   # visa optional data has no check digit
        names += [n for n in ("optional_data",) if n in lay.fields and n not in lay.checked]
    return names


def combine(lay: Layout, probs: np.ndarray, classes: str, tess: list[Choices] | None,
            today: dt.date | None = None) -> MrzResult:
    """The reading of one band from the recogniser's probabilities (positions x classes) and tesseract's
    per-position choices (None when it read a different shape), with its uncertain fields."""
    allowed = _allowed(lay)
    tess_top = [ch[0][0] if ch else None for ch in tess] if tess is not None else [None] * lay.total
    tess_ok = [_tess_reads(ch) for ch in tess] if tess is not None else [frozenset()] * lay.total
    cands = [_candidates(probs[i], classes, allowed[i], tess_ok[i]) for i in range(lay.total)]
    base = [c[0][0] for c in cands]
    readings = _checked_readings(lay, cands, base)
    chosen: tuple[float, str, MrzResult] | None = None
    others: list[tuple[float, str]] = []
    for cost, text in readings:
        result = parse_mrz(_rows(lay, text), today)
        if result.valid and chosen is None:
            chosen = (cost, text, result)
        elif result.valid:
            others.append((cost, text))
    if chosen is None:
        return parse_mrz(_rows(lay, "".join(base)), today)
    cost, text, result = chosen
    uncertain: dict[str, list[str]] = {}
    model_top = "".join(classes[int(i)] for i in probs.argmax(axis=1))
    # tesseract's reading where it dissents, the chosen character where it stands behind it (a near tie)
    tess_text = "".join(t if _tess_dissents(probs[p], classes, text[p], t, tess_ok[p], allowed[p]) else text[p]
                        for p, t in enumerate(tess_top)) if tess is not None else None
    for name, (data_field, cd_field) in lay.checked.items():
        a, b = lay.fields[data_field]
        c = lay.fields[cd_field][0]
        mine = text[a:b] + text[c]
        alts = {o[a:b] + o[c] for oc, o in others if oc - cost <= AMBIGUOUS}
        for opinion in (model_top, tess_text):
            if opinion is not None and opinion[a:b] + opinion[c] != mine and _verifies(opinion, a, b, c, name):
                alts.add(opinion[a:b] + opinion[c])
        alts |= _doubtful_variants(text, [*range(a, b), c], probs, classes, tess_top, tess_ok, allowed, a, b, c,
                                   name)
        alts.discard(mine)
        if alts:
            uncertain[name] = sorted(x[:-1].rstrip("<") for x in alts)
    for name in _unchecked(lay):
        a, b = lay.fields[name]
        alts = set()
        for p in range(a, b):
            for alt in _doubts(probs[p], classes, text[p], tess_top[p], tess_ok[p], allowed[p]):
                alts.add(text[a:p] + alt + text[p + 1:b])
        if alts:
            uncertain[name] = sorted(x.rstrip("<") for x in alts)[:4]
    changed = sum(1 for x, y in zip(text, model_top, strict=True) if x != y)
    notes = [f"check digits chose {changed} character(s) over the recogniser's first choice"] if changed else []
    if not uncertain:
        return dataclasses.replace(result, corrections=(*result.corrections, *notes))
    errors = (*result.errors, *(f"uncertain: {n} (officer confirms)" for n in uncertain))
    return dataclasses.replace(result, valid=False, errors=errors, corrections=(*result.corrections, *notes),
                               uncertain_fields={k: tuple(v) for k, v in uncertain.items()})


def _verifies(text: str, a: int, b: int, c: int, name: str) -> bool:
    if text[c] == "<":
        return name == "optional_data" and set(text[a:b]) == {"<"}
    return check_digit(text[a:b]) == text[c]


def _doubtful_variants(text: str, positions: list[int], probs: np.ndarray, classes: str, tess_top: list,
                       tess_ok: list, allowed: list, a: int, b: int, c: int, name: str) -> set[str]:
    """Other values of a checked field that verify using only doubtful characters (close runner-ups,
    tesseract's different reads): how two cancelling misreads, or one the 7-3-1 sum cannot see, show up."""
    options = [(p, [text[p], *sorted(_doubts(probs[p], classes, text[p], tess_top[p], tess_ok[p], allowed[p]))])
               for p in positions]
    options = [(p, o) for p, o in options if len(o) > 1]
    if not options or len(options) > 8:
        return set() if not options else {"(too many doubtful characters to list)" + "?"}
    out = set()
    for combo in itertools.product(*(o for _, o in options)):
        chars = list(text)
        for (p, _), ch in zip(options, combo, strict=True):
            chars[p] = ch
        other = "".join(chars)
        if other != text and _verifies(other, a, b, c, name):
            out.add(other[a:b] + other[c])
    return out


def _doubts(probs: np.ndarray, classes: str, chosen: str, tess: str | None, tess_ok: frozenset[str],
            allowed: frozenset[str]) -> set[str]:
    """Other characters one position may hold: a close runner-up, or tesseract's read where it does not
    stand behind the chosen character."""
    out = set()
    order = np.argsort(-probs)[:3]
    for i in order:
        c = classes[int(i)]
        if c != chosen and c in allowed and float(probs[i]) >= CLOSE:
            out.add(c)
    if _tess_dissents(probs, classes, chosen, tess, tess_ok, allowed):
        out.add(tess)
    return out


def _checked_readings(lay: Layout, cands: list[list[tuple[str, float]]], base: list[str]) -> list[tuple[float, str]]:
    """Readings whose every checked field verifies (cheapest first), combined so the composite verifies."""
    per_field = []
    for name, (data_field, cd_field) in lay.checked.items():
        a, b = lay.fields[data_field]
        cd = lay.fields[cd_field][0]
        if name == "document_number" and lay.overflow and base[cd] == "<":
            per_field.append([(0.0, {})])       # long number: its check digit sits in the optional data
            continue

        def verify(assign: dict, a: int = a, b: int = b, cd: int = cd, name: str = name) -> bool:
            data = "".join(assign.get(p, base[p]) for p in range(a, b))
            digit = assign.get(cd, base[cd])
            if digit == "<":
                return name == "optional_data" and set(data) == {"<"}
            return check_digit(data) == digit

        variants = _field_variants(cands, [*range(a, b), cd], verify)
        per_field.append(variants or [(0.0, {})])
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
            options = [k for ch, k in cands[c] if ch == want]
            if not options:
                continue
            chars[c] = want
            cost += options[0]
        readings.append((cost, "".join(chars)))
    readings.sort()
    return readings[:12]
