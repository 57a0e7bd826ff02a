"""OCR-aware correction of a whole MRZ read from an image, steered by what each field may hold.

Pure. Three steps, each reported as a correction:
1. fields that can only hold letters (names, state codes, document code, sex) never hold digits, so
   a digit there is the look-alike letter (0→O, 1→I, 5→S, ...);
2. digit-only fields (dates, check digits) are corrected by `parse_mrz` itself, only where the check
   digits then verify;
3. alphanumeric fields (document number, personal number) are ambiguous by nature and are not
   guessed at: only `fuse` changes them, choosing among characters that some OCR read actually saw,
   and only when every check digit then verifies. (Guessing look-alike swaps is unsafe there: the
   composite repeats the document number with the same weights, so it adds no evidence.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

from edge.documents.layout import Layout, layout_for
from edge.documents.mrz import MrzResult, parse_mrz

DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T", "3": "E"}
LETTER_FIELDS = ("document_code", "issuing_state", "nationality", "name", "sex")


def _pos(lay: Layout, offset: int) -> str:
    return f"line {offset // lay.length + 1} column {offset % lay.length + 1}"


def _letter_fields(lay: Layout, chars: list[str], notes: list[str]) -> None:
    for name in LETTER_FIELDS:
        a, b = lay.fields[name]
        for p in range(a, b):
            if chars[p] in DIGIT_TO_LETTER:
                notes.append(f"{name}: {_pos(lay, p)} '{chars[p]}' -> '{DIGIT_TO_LETTER[chars[p]]}' (letters only)")
                chars[p] = DIGIT_TO_LETTER[chars[p]]


def fuse(texts: list[str], today: dt.date | None = None, limit: int = 512) -> MrzResult | None:
    """Check-digit-steered fusion of several OCR reads of one band.

    Where same-shaped reads disagree, each position may take any character some read saw there. The
    combinations that parse valid must agree on every check-digit-covered character (otherwise the
    reads are ambiguous and nothing is picked); among them the one with most votes wins (that settles
    unchecked fields such as names by majority). Candidates come from the reads, not from guesses.
    """
    shaped = [t for t in texts if t]
    if len(shaped) < 2:
        return None
    shape = [len(x) for x in shaped[0].split("\n")]
    same = [t for t in shaped if [len(x) for x in t.split("\n")] == shape]
    if len(same) < 2:
        return None
    options = [sorted(set(chars), key=lambda c, cs=chars: -cs.count(c)) for chars in zip(*same, strict=True)]
    open_pos = [i for i, o in enumerate(options) if len(o) > 1]
    total = 1
    for i in open_pos:
        total *= len(options[i])
    if not open_pos or total > limit:
        return None
    base = [o[0] for o in options]
    valid: list[tuple[int, str, MrzResult]] = []
    for combo in itertools.product(*(options[i] for i in open_pos)):
        chars = base.copy()
        for i, c in zip(open_pos, combo, strict=True):
            chars[i] = c
        text = "".join(chars)
        result = correct_ocr(text, today)
        if result.valid:
            votes = sum(sum(t[i] == text[i] for t in same) for i in open_pos)
            valid.append((votes, _checked_content(result), result))
    if not valid or len({content for _, content, _ in valid}) > 1:
        return None     # nothing verifies, or the check digits accept more than one reading: do not pick
    best = max(valid, key=lambda v: v[0])[2]
    return _with(best, [f"fused {len(same)} OCR reads: check digits settled {len(open_pos)} disputed position(s)"])


def _checked_content(result: MrzResult) -> str:
    """The characters some check digit covers: two valid readings that differ here are ambiguous."""
    lay = layout_for(len(result.lines), len(result.lines[0]), result.lines[0][:1])
    if lay is None:
        return ""
    text = "".join(result.lines)
    spans = [lay.fields[f] for pair in lay.checked.values() for f in pair] + list(lay.composite)
    return "".join(text[a:b] for a, b in sorted(set(spans)))


def correct_ocr(text: str, today: dt.date | None = None) -> MrzResult:
    """Parse an OCR'd MRZ, correcting look-alike characters where the field type or check digits allow."""
    lines = [ln for ln in text.splitlines() if ln]
    lay = layout_for(len(lines), len(lines[0]), lines[0][:1]) if lines and len({len(x) for x in lines}) == 1 else None
    if lay is None:
        return parse_mrz(text, today)
    notes: list[str] = []
    chars = list("".join(lines))
    _letter_fields(lay, chars, notes)
    first = parse_mrz("\n".join(_rows(lay, chars)), today)
    if first.valid or not first.lines:
        return _with(first, notes)
    return _with(first, notes)


def _rows(lay: Layout, chars: list[str]) -> list[str]:
    text = "".join(chars)
    return [text[i:i + lay.length] for i in range(0, lay.total, lay.length)]


def _with(result: MrzResult, notes: list[str]) -> MrzResult:
    merged = tuple(dict.fromkeys([*notes, *result.corrections]))
    return dataclasses.replace(result, corrections=merged)
