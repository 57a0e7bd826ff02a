"""The parser's fast path: a well-formed MRZ checked in one compiled pass, its fields cut in one C call.

`parse_mrz` tries this first and falls back to the full parser (`edge.documents.mrz`) for anything
else; a hypothesis test asserts both give identical results, so only the full parser ever decides
unusual input (unknown date parts, look-alike letters, wrong lengths, unknown codes, `\\r\\n`).

Why it is shaped like this: the station parses one MRZ at a time, but `bench/mrz_parse` holds the
parser to 10x the `mrz` package on 100,000 documents, about 6 µs each. The per-character work
(character classes, 7-3-1 sums) runs in `_mrzscan.c`, driven by tables built here from
`edge.documents.layout`; `_scan_py` is the same function in Python, used when the extension was not
built (`IMPLEMENTATION` says which); likewise `_mrzscan.lookalikes` and `checkdigit.lookalike_repairs`
for the look-alike repairs of a failed document or personal number. Each format gets a closure with every
offset baked in; one `itemgetter` of slices cuts every field; codes are dictionary lookups; dates are
integer arithmetic, memoised per reference date.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from operator import itemgetter

from edge.documents import codes
from edge.documents.checkdigit import _MOD10, lookalike_repairs
from edge.documents.layout import LAYOUTS, Layout
from edge.documents.result import EXPIRY_WINDOW_YEARS, SEX_CODES, MrzResult, mrz_date

try:
    from edge.documents._mrzscan import lookalikes as _lookalikes_c
    from edge.documents._mrzscan import scan as _scan_c
except ImportError:   # not built (no compiler at install time): the same functions in Python
    _scan_c = _lookalikes_c = None

Scan = Callable[[str, bytes, bytes], "int | None"]
Repairs = Callable[..., "tuple[int, tuple[int, str] | None]"]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ<"

# What each field may hold on the fast path, as class codes: L [A-Z<], A [A-Z0-9<], D [0-9], d [0-9<],
# S [MFX<]. Anything else (look-alike letters in digit fields, `<` in dates, lowercase) is the full
# parser's to judge, correct and report.
_CLASS = {
    "document_code": "L", "issuing_state": "L", "nationality": "L", "name": "L",
    "document_number": "A", "optional_data": "A", "optional_data_2": "A",
    "birth_date": "D", "birth_date_cd": "D", "expiry_date": "D", "expiry_date_cd": "D",
    "composite": "D", "optional_data_cd": "d", "sex": "S",
}
_CLASS_RE = {"L": "[A-Z<]", "A": "[A-Z0-9<]", "D": "[0-9]", "d": "[0-9<]", "S": "[MFX<]", "\n": "\n"}
# Padded three-character state field -> code (`D<<` -> `D`); a miss means unknown or badly padded.
_STATE_OF = {code.ljust(3, "<"): code for code in codes.STATE_CODES if 0 < len(code) <= 3}


def _t(lay: Layout, offset: int) -> int:
    """Offset in the joined lines -> offset in the text with a `\\n` after each line."""
    return offset + offset // lay.length


def _span(lay: Layout, name: str) -> slice:
    a, b = lay.fields[name]
    return slice(_t(lay, a), _t(lay, b - 1) + 1)


def layout_tables(lay: Layout) -> tuple[bytes, bytes, tuple[str, ...]]:
    """(class code per position, checks table, check names) of one format, for `scan`.

    Checks table, per check: kind (P plain; O may be `<` when all its data is `<`; N a document
    number whose `<` check digit means the overflow rule, ranges: number then optional data), the
    check digit's position, the number of ranges, then start and end of each range.
    """
    by_pos = ["\n"] * (lay.total + lay.lines - 1)
    for name, (a, b) in lay.fields.items():
        cls = _CLASS.get(name) or ("d" if lay.overflow else "D")   # document_number_cd
        for o in range(a, b):
            by_pos[_t(lay, o)] = cls
    table, names = bytearray(), []
    for name, (data_field, cd_field) in lay.checked.items():
        ranges = [_span(lay, data_field)]
        kind = "P"
        if name == "document_number" and lay.overflow:
            kind, ranges = "N", [*ranges, _span(lay, lay.overflow)]
        elif name == "optional_data":
            kind = "O"
        table += bytes([ord(kind), _span(lay, cd_field).start, len(ranges)])
        table += bytes(x for r in ranges for x in (r.start, r.stop))
        names.append(name)
    if lay.composite:
        ranges = [slice(_t(lay, a), _t(lay, b - 1) + 1) for a, b in lay.composite]
        table += bytes([ord("P"), _span(lay, "composite").start, len(ranges)])
        table += bytes(x for r in ranges for x in (r.start, r.stop))
        names.append("composite")
    return "".join(by_pos).encode("ascii"), bytes(table), tuple(names)


@functools.lru_cache(maxsize=16)
def _class_pattern(classes: bytes) -> re.Pattern[str]:
    return re.compile("".join(_CLASS_RE.get(chr(c), "(?!)") for c in classes))


_Step = tuple[str, int, tuple[slice, ...]]
_VALUE = bytes(0 if x == 255 else x for x in _MOD10)   # as in C: a character outside the MRZ alphabet counts 0


@functools.lru_cache(maxsize=32)
def _plan(checks: bytes, n: int) -> tuple[tuple[_Step, ...], bool]:
    """A checks table read once: its well-formed steps, and whether a malformed entry follows them."""
    steps: list[_Step] = []
    i = 0
    while i < len(checks):
        if len(checks) - i < 3 or len(checks) - i < 3 + 2 * checks[i + 2] or len(steps) > 7:
            return tuple(steps), True
        kind, cd, k = chr(checks[i]), checks[i + 1], checks[i + 2]
        ranges = [(checks[i + 3 + 2 * j], checks[i + 4 + 2 * j]) for j in range(k)]
        i += 3 + 2 * k
        if cd >= n or (kind == "N" and k != 2) or any(a > b or b > n for a, b in ranges):
            return tuple(steps), True
        steps.append((kind, cd, tuple(slice(a, b) for a, b in ranges)))
    return tuple(steps), False


def _scan_py(text: str, classes: bytes, checks: bytes) -> int | None:
    """`_mrzscan.scan` in Python, step for step: None unless every character is of its class; else check bits.

    Bit i is set when check i verifies; (overflow cut + 1) << 8 tells where a long document number's
    tail ends in the optional data. A malformed checks table raises ValueError, as in C.
    """
    if not isinstance(classes, bytes) or not isinstance(checks, bytes):
        raise TypeError("scan(text: str, classes: bytes, checks: bytes)")
    if text.__class__ is not str or len(text) != len(classes) or _class_pattern(classes).fullmatch(text) is None:
        return None
    steps, malformed = _plan(checks, len(classes))
    v = text.encode("ascii").translate(_VALUE)
    bits, cut = 0, -1
    for bit, (kind, cd, ranges) in enumerate(steps):
        if kind == "N" and text[cd] == "<":
            number, opt = ranges
            c = text.find("<", opt.start, opt.stop) - opt.start
            if c <= 1 or not text[opt.start + c - 1].isdigit():
                return None
            data, want, cut = v[number] + v[opt.start:opt.start + c - 1], v[opt.start + c - 1], c
        elif kind == "O" and text[cd] == "<":
            bits |= all(not text[r].strip("<") for r in ranges) << bit
            continue
        else:
            data = v[ranges[0]] if kind == "N" or len(ranges) == 1 else b"".join([v[r] for r in ranges])
            want = v[cd] if text[cd].isdigit() else -1
        bits |= ((7 * sum(data[0::3]) + 3 * sum(data[1::3]) + sum(data[2::3])) % 10 == want) << bit
    if malformed:
        raise ValueError("malformed checks table")
    return bits | (cut + 1) << 8


IMPLEMENTATION = "compiled" if _scan_c is not None else "python"
SCAN: Scan = _scan_c or _scan_py
REPAIRS: Repairs = _lookalikes_c or lookalike_repairs


_MISS = object()
_CACHE_LIMIT = 400_000   # entries per reference date; all six-digit strings would be 1,000,000


class _DateCache:
    """MRZ date text -> (ISO date, age or expired, error), one pair of dicts per reference date.

    Keyed by the reference date, so two threads parsing either side of midnight never share an entry.
    """

    def __init__(self) -> None:
        self.days: dict[dt.date, tuple[dict[str, tuple], dict[str, tuple]]] = {}

    def for_day(self, today: dt.date) -> tuple[dict[str, tuple], dict[str, tuple]]:
        got = self.days.get(today)
        if got is None:
            if len(self.days) >= 4:
                self.days = {}
            got = self.days[today] = ({}, {})
        return got


# Days per month with 29 February left out: a date that passes this is a date in every year, so its year
# can be chosen by the century rule alone; 29 February and anything invalid take `mrz_date` (leap years, errors).
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _birth(raw: str, today: dt.date, cache: dict[str, tuple]) -> tuple[str | None, int | None, str | None]:
    """(ISO date, age, None), or (None, None, the full parser's error) for six digits that are no birth date.

    Every new document is a cache miss (a kiosk never sees the same birth date twice in a row), so the
    common case is integer arithmetic and one f-string, not `datetime.date` and `isoformat`; a test holds it
    equal to `mrz_date` on every two-digit year, month and day.
    """
    n = int(raw)
    yy, mm, dd = n // 10000, n // 100 % 100, n % 100
    ty, tmd = today.year, (today.month, today.day)
    if 1 <= mm <= 12 and 1 <= dd <= _MONTH_DAYS[mm]:
        year = 2000 + yy if (2000 + yy, mm, dd) <= (ty, *tmd) else 1900 + yy
        if (year, mm, dd) <= (ty, *tmd):
            got = (f"{year}-{raw[2:4]}-{raw[4:]}", ty - year - (tmd < (mm, dd)), None)
            if len(cache) < _CACHE_LIMIT:
                cache[raw] = got
            return got
    errors: list[str] = []
    d = mrz_date(raw, "birth_date", today, errors)
    got = (None, None, errors[0]) if d is None else (
        d.isoformat(), today.year - d.year - ((today.month, today.day) < (d.month, d.day)), None)
    if len(cache) < _CACHE_LIMIT:
        cache[raw] = got
    return got


def _expiry(raw: str, today: dt.date, cache: dict[str, tuple]) -> tuple[str | None, bool | None, str | None]:
    """(ISO date, expired, None), or (None, None, the full parser's error); the common case as in `_birth`."""
    n = int(raw)
    yy, mm, dd = n // 10000, n // 100 % 100, n % 100
    if 1 <= mm <= 12 and 1 <= dd <= _MONTH_DAYS[mm]:
        year = 2000 + yy if 2000 + yy <= today.year + EXPIRY_WINDOW_YEARS else 1900 + yy
        got = (f"{year}-{raw[2:4]}-{raw[4:]}", (year, mm, dd) < (today.year, today.month, today.day), None)
    else:
        errors: list[str] = []
        d = mrz_date(raw, "expiry_date", today, errors)
        got = (None, None, errors[0]) if d is None else (d.isoformat(), d < today, None)
    if len(cache) < _CACHE_LIMIT:
        cache[raw] = got
    return got


_DATES = _DateCache()


def _words(field: str) -> str:
    """A name or optional-data field as words: `<` separates, runs of `<` count once, padding dropped."""
    field = field.rstrip("<")
    if "<<" in field or field[:1] == "<":
        return " ".join(field.replace("<", " ").split())
    return field.replace("<", " ")


def _build(lay: Layout, scan: Scan, repairs: Repairs) -> Callable[[str, dt.date], MrzResult | None]:
    """The fast parser of one format: offsets, tables and flags are closure constants."""
    fmt, has_opt2 = lay.fmt, "optional_data_2" in lay.fields
    classes, table, check_names = layout_tables(lay)
    names = ["document_code", "issuing_state", "document_number", "nationality", "birth_date", "sex",
             "expiry_date", "optional_data", "name"] + (["optional_data_2"] if has_opt2 else [])
    cut_text = itemgetter(*(_span(lay, n) for n in names))
    all_ok = (1 << len(check_names)) - 1
    # Checks over alphanumeric fields: a failure there may be a look-alike the full parser repairs.
    repairable = sum(1 << i for i, n in enumerate(check_names) if n in ("document_number", "optional_data"))
    # Per such check: (its bit, name, data span, check digit's offset), in the full parser's order.
    repair_steps = tuple((1 << i, n, _span(lay, lay.checked[n][0]), _span(lay, lay.checked[n][1]).start)
                         for i, n in enumerate(check_names) if 1 << i & repairable)
    # Per pattern of check bits: the failed ones among those, as (name, data span, check digit's offset); empty
    # when none failed, so a document pays one list lookup for it.
    failed_steps = [tuple((n, span, cd) for bit, n, span, cd in repair_steps if not bits & bit)
                    for bits in range(all_ok + 1)]
    # Per pattern of check bits: the `checks` dict to copy and the `errors` tuple.
    checks_of = [{n: bool(bits >> i & 1) for i, n in enumerate(check_names)} for bits in range(all_ok + 1)]
    errors_of = [tuple(f"check_digit: {n} does not verify" for n, ok in c.items() if not ok) for c in checks_of]
    doc_codes = {a + b: (a + b).rstrip("<") for a in _LETTERS for b in _LETTERS
                 if not codes.document_code_problem(a + b, fmt)}
    dates, state_of, sex_of, miss = _DATES, _STATE_OF, SEX_CODES, _MISS
    # MrzResult.from_fields, inlined: one __dict__ store instead of the frozen __init__'s nineteen
    new, store, result_cls = object.__new__, object.__setattr__, MrzResult
    line_step = lay.length + 1
    opt_start = _span(lay, lay.overflow).start if lay.overflow else 0

    def parse(text: str, today: dt.date) -> MrzResult | None:
        r = scan(text, classes, table)
        if r is None:
            return None
        f = cut_text(text)
        code, issuing, nationality = doc_codes.get(f[0]), state_of.get(f[1]), state_of.get(f[3])
        if code is None or issuing is None or nationality is None:
            return None
        births, expiries = dates.days.get(today) or dates.for_day(today)
        birth, expiry = births.get(f[4], miss), expiries.get(f[6], miss)
        if birth is miss:
            birth = _birth(f[4], today, births)
        if expiry is miss:
            expiry = _expiry(f[6], today, expiries)
        number, optional = f[2], f[7]
        cut = (r >> 8) - 1
        if cut >= 0:   # long document number (Doc 9303 Part 5 4.2.2): its tail opens the optional data
            number, optional = number + optional[:cut - 1], optional[cut + 1:]
        number = number.rstrip("<")
        primary, _, secondary = f[8].rstrip("<").partition("<<")
        if not number or not primary.strip("<"):
            return None
        bits = r & 255
        errors, valid = errors_of[bits], bits == all_ok
        corrections, uncertain = (), {}
        failed = failed_steps[bits]
        if failed:   # a failed alphanumeric check: look-alike repairs, as the full parser does
            repair_errors, repair = (), None
            for name, span, cd in failed:
                digit = text[cd]
                if digit == "<":
                    if name == "optional_data":
                        continue   # no look-alike is `<`: nothing makes the field empty, as `<` there demands
                    if cut < 0:
                        return None
                if repair is not None:
                    return None
                if cut >= 0:   # a long number: its tail and check digit open the optional data; only its field
                    tail = opt_start + cut - 1   # is repaired, as in the full parser
                    count, one = repairs(text[span] + text[opt_start:tail], text[tail], span.stop - span.start)
                else:
                    count, one = repairs(text[span], digit)
                if one is not None:
                    repair = (name, span, span.start + one[0], one[1])
                elif count:
                    repair_errors += (f"{name}: {count} different look-alike repairs verify; none chosen",)
            if repair is not None:
                if repair_errors:
                    return None
                # The repaired text differs in one character of one alphanumeric field: only that field and
                # the check bits change (the look-alikes are all of that field's class), so no second parse.
                name, span, at, alt = repair
                as_read = text
                text = text[:at] + alt + text[at + 1:]
                bits = scan(text, classes, table) & 255
                f = cut_text(text)
                number, optional = f[2], f[7]
                if cut >= 0:
                    number, optional = number + optional[:cut - 1], optional[cut + 1:]
                number = number.rstrip("<")
                errors, valid = errors_of[bits], False
                line, column = divmod(at, line_step)
                corrections = (f"{name}: line {line + 1} column {column + 1} '{as_read[at]}' -> '{alt}' "
                               "(look-alike; officer confirms)",)
                uncertain = {name: (as_read[span].rstrip("<"),)}
                errors = (*errors, f"uncertain: {name} was repaired by a look-alike substitution (officer confirms)")
            elif repair_errors:
                errors = (*repair_errors, *errors)
        if birth[2] or expiry[2]:   # six digits that are no date: reported after the check digits, as _parse does
            errors, valid = errors + tuple(e for e in (birth[2], expiry[2]) if e), False
        result = new(result_cls)
        store(result, "__dict__", {
            "format": fmt, "document_code": code, "issuing_state": issuing,
            "surname": primary.replace("<", " ").lstrip(), "given_names": _words(secondary) or None,
            "document_number": number, "nationality": nationality, "birth_date": birth[0], "expiry_date": expiry[0],
            "sex": sex_of[f[5]], "optional_data": _words(optional) or None,
            "optional_data_2": (_words(f[9]) or None) if has_opt2 else None,
            # Digit-only positions held digits: a failed date or composite check is final.
            "valid": valid, "checks": checks_of[bits].copy(), "corrections": corrections, "expired": expiry[1],
            "age": birth[1], "errors": errors, "lines": tuple(text.split("\n")), "uncertain_fields": uncertain,
        })
        return result

    return parse


Parser = Callable[[str, dt.date], "MrzResult | None"]


def build_parsers(scan: Scan = SCAN, repairs: Repairs = REPAIRS) -> dict[int, tuple[Parser, Parser]]:
    """Length of the stripped text -> (its format's fast parser, the visa format's of that length)."""
    by_shape = {(lay.total + lay.lines - 1, lay.fmt.startswith("MRV")): _build(lay, scan, repairs)
                for lay in LAYOUTS.values()}
    parsers: dict[int, tuple[Parser, Parser]] = {}
    for (length, visa), parse in by_shape.items():
        other = by_shape.get((length, not visa), parse)   # no visa of TD1's length: a TD1 starting with V is TD1
        parsers[length] = (other, parse) if visa else (parse, other)
    return parsers


_PARSERS = build_parsers()


def parse_fast(text: str, today: dt.date) -> MrzResult | None:
    """The common case, a well-formed MRZ, parsed at C speed; None hands the text to the full parser.

    Well-formed: lines joined by `\\n`, every field holding only what it may (digits in dates and
    check digits, letters in names...), known codes. Failed checks, a unique look-alike repair of an
    alphanumeric field (officer confirms), and six digits that are no date are reported here, as the full
    parser reports them. Tests assert both paths agree.
    """
    if text.__class__ is not str or len(text) > 200:
        return None
    text = text.strip()
    pair = _PARSERS.get(len(text))
    return pair[text[0] == "V"](text, today) if pair is not None else None
