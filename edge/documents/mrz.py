"""Exact ICAO Doc 9303 MRZ parsing: TD1, TD2, TD3, MRV-A, MRV-B. Pure; never raises on any input.

The result carries a verdict per check digit and a list of specific errors instead of exceptions
(PassportEye's idea), so a misread is reported, not recorded as truth. Rules others get wrong and
this module keeps: TD1/TD2 document numbers longer than nine characters (`<` in the check-digit
position, the tail and its check digit in the optional data), `<` as the TD3 optional-data check
digit when that field is empty, Germany's `D<<`, crew-member `AC` documents.

Century rule (documented in docs/documents.md): a birth date takes the latest century that does not put
it after the reference date; an expiry date takes the century that puts it within
(reference − 50 years, reference + 50 years].
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from edge.documents import codes
from edge.documents.checkdigit import _MOD10 as _MOD10_TABLE
from edge.documents.checkdigit import MRZ_ALPHABET, check_digit
from edge.documents.layout import DIGIT_FIELDS, LAYOUTS, Layout, layout_for

EXPIRY_WINDOW_YEARS = 50
MAX_INPUT_CHARS = 4096   # an MRZ is at most 90 characters; anything far larger is not one

# Letters OCR and tired typists put where a digit belongs, and the digit they stand for.
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "T": "1", "Z": "2", "S": "5",
                   "G": "6", "B": "8", "A": "4", "E": "3"}


@dataclass(frozen=True)
class MrzResult:
    """Everything read from one MRZ and how it checked out. `to_dict()` is the CLI's JSON object."""

    format: str | None = None
    document_code: str | None = None
    issuing_state: str | None = None
    surname: str | None = None
    given_names: str | None = None
    document_number: str | None = None
    nationality: str | None = None
    birth_date: str | None = None
    expiry_date: str | None = None
    sex: str | None = None
    optional_data: str | None = None
    optional_data_2: str | None = None
    valid: bool = False
    checks: dict[str, bool] = field(default_factory=dict)
    corrections: tuple[str, ...] = ()
    expired: bool | None = None
    age: int | None = None
    errors: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()     # the (corrected) MRZ lines; personal data: never log them

    @property
    def is_mrz(self) -> bool:
        """False when the input was not an MRZ at all (empty, prose, binary): the CLI's exit 2."""
        return self.format is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "document_code": self.document_code, "issuing_state": self.issuing_state,
            "surname": self.surname, "given_names": self.given_names, "document_number": self.document_number,
            "nationality": self.nationality, "birth_date": self.birth_date, "expiry_date": self.expiry_date,
            "sex": self.sex, "optional_data": self.optional_data, "optional_data_2": self.optional_data_2,
            "valid": self.valid, "checks": dict(self.checks), "corrections": list(self.corrections),
            "expired": self.expired, "age": self.age, "errors": list(self.errors),
        }


def normalise_lines(text: str) -> list[str]:
    """Lines of an MRZ as received: whitespace removed, empty lines dropped, one-line 72/88/90 split."""
    lines = [re.sub(r"\s+", "", ln) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if len(lines) == 1 and len(lines[0]) in (72, 88, 90):
        n = 3 if len(lines[0]) == 90 else 2
        size = len(lines[0]) // n
        lines = [lines[0][i * size:(i + 1) * size] for i in range(n)]
    return lines


_NOT_ALPHABET = {ord(c): None for c in MRZ_ALPHABET}   # str.translate table deleting the MRZ alphabet


def _looks_like_mrz(lines: list[str]) -> bool:
    joined = "".join(lines)
    if len(joined) < 20 or "<" not in joined:
        return False
    foreign = len(joined.upper().translate(_NOT_ALPHABET))
    return foreign <= 0.1 * len(joined)


def _guess_layout(lines: list[str], errors: list[str]) -> Layout:
    """For lines that fit no format exactly: the nearest format, with errors naming every mismatch."""
    longest = max(len(ln) for ln in lines)
    length = min((30, 36, 44), key=lambda n: (abs(n - longest), n))
    want = 3 if length == 30 else 2
    first = lines[0][:1]
    lay = layout_for(want, length, first) or LAYOUTS["TD3"]
    if len(lines) != want:
        errors.append(f"line_count: {len(lines)} lines, {lay.fmt} has {want}")
    for i, ln in enumerate(lines[:want], 1):
        if len(ln) != length:
            errors.append(f"line_length: line {i} has {len(ln)} characters, {lay.fmt} needs {length}")
    return lay


def _fit(lines: list[str], lay: Layout) -> str:
    rows = [ln[:lay.length].ljust(lay.length, "<") for ln in lines[:lay.lines]]
    rows += ["<" * lay.length] * (lay.lines - len(rows))
    return "".join(rows)


def _pos(lay: Layout, offset: int) -> str:
    return f"line {offset // lay.length + 1} column {offset % lay.length + 1}"


@dataclass
class _Work:
    lay: Layout
    chars: list[str]
    errors: list[str]
    corrections: list[str]

    def get(self, name: str) -> str:
        a, b = self.lay.fields[name]
        return "".join(self.chars[a:b])


def _td_overflow(w: _Work) -> tuple[str, str, str] | None:
    """Long document number (Doc 9303 Part 5 4.2.2 / Part 6): (number, its check digit, rest of optional data)."""
    opt = w.get(w.lay.overflow or "")
    cut = opt.find("<")
    if cut <= 0:
        w.errors.append("document_number: check digit position is '<' but the optional data holds no number tail")
        return None
    tail = opt[:cut]
    return w.get("document_number") + tail[:-1], tail[-1], opt[cut + 1:]


def _correct_digits(w: _Work, positions: list[int], verify: Any, label: str) -> bool:
    """Replace look-alike letters at `positions` by digits; keep the change only if `verify()` then holds."""
    fixes = [(p, w.chars[p]) for p in positions if w.chars[p] in LETTER_TO_DIGIT]
    if not fixes:
        return False
    for p, c in fixes:
        w.chars[p] = LETTER_TO_DIGIT[c]
    if verify():
        for p, c in fixes:
            w.corrections.append(f"{label}: {_pos(w.lay, p)} '{c}' -> '{w.chars[p]}'")
        return True
    for p, c in fixes:
        w.chars[p] = c
    return False


def _check_field(w: _Work, name: str, data_field: str, cd_field: str) -> tuple[bool, str | None]:
    """Verify one check digit (correcting digit-only positions when that makes it verify).

    Returns (verdict, document number when the overflow rule applied).
    """
    lay = w.lay
    a, b = lay.fields[data_field]
    c, _ = lay.fields[cd_field]

    def verify() -> bool:
        return _check_once(w, name, data_field, cd_field) is not None

    if verify():
        return True, _overflow_number(w, name, cd_field)
    positions = [c] + (list(range(a, b)) if data_field in DIGIT_FIELDS else [])
    if _correct_digits(w, positions, verify, name):
        return True, _overflow_number(w, name, cd_field)
    return False, _overflow_number(w, name, cd_field, quiet=True)


def _overflow_number(w: _Work, name: str, cd_field: str, quiet: bool = False) -> str | None:
    if name != "document_number" or w.lay.overflow is None or w.get(cd_field) != "<":
        return None
    errors_before = len(w.errors)
    got = _td_overflow(w)
    if quiet:
        del w.errors[errors_before:]
    return got[0] if got else None


def _check_once(w: _Work, name: str, data_field: str, cd_field: str) -> bool | None:
    data, cd = w.get(data_field), w.get(cd_field)
    if name == "document_number" and w.lay.overflow and cd == "<":
        got = _td_overflow(w)
        if got is None:
            return None
        data, cd = got[0], got[1]
    if name == "optional_data" and cd == "<":
        return True if set(data) == {"<"} else None
    return True if check_digit(data) == cd else None


def _check_composite(w: _Work) -> bool:
    lay = w.lay
    c = lay.fields["composite"][0]

    def verify() -> bool:
        data = "".join("".join(w.chars[a:b]) for a, b in lay.composite)
        return check_digit(data) == w.chars[c]

    return verify() or _correct_digits(w, [c], verify, "composite")


def _date(raw: str, kind: str, today: dt.date, errors: list[str]) -> dt.date | None:
    """An MRZ date YYMMDD (unknown parts as `<`) with the documented century rule; None when unknown."""
    if "<" in raw:
        if not re.fullmatch(r"(\d\d|<<)(\d\d|<<)(\d\d|<<)", raw) or re.fullmatch(r".*<<\d\d.*", raw):
            errors.append(f"{kind}: malformed date (unknown parts must be '<<' from the right)")
        return None
    if not raw.isdigit():
        errors.append(f"{kind}: not a date (non-digits)")
        return None
    yy, mm, dd = int(raw[:2]), int(raw[2:4]), int(raw[4:])
    if kind == "birth_date":
        candidates = [2000 + yy, 1900 + yy]
    else:
        year = 2000 + yy if 2000 + yy <= today.year + EXPIRY_WINDOW_YEARS else 1900 + yy
        candidates = [year]
    for year in candidates:
        try:
            d = dt.date(year, mm, dd)
        except ValueError:
            continue
        if kind == "birth_date" and d > today:
            continue
        return d
    errors.append(f"{kind}: not a valid date" if kind != "birth_date" or not 1 <= mm <= 12
                  else f"{kind}: not a valid date, or in the future")
    return None


_NAME_CHARS = re.compile(r"[A-Z<]*")


def _names(raw: str, errors: list[str]) -> tuple[str | None, str | None]:
    if not _NAME_CHARS.fullmatch(raw):
        errors.append("name: characters other than letters and '<'")
    body = raw.rstrip("<")
    if not body:
        errors.append("name: empty")
        return None, None
    primary, _, secondary = body.partition("<<")
    surname = " ".join(p for p in primary.split("<") if p)
    given = " ".join(p for p in secondary.split("<") if p)
    return surname or None, given or None


def _state(raw: str, label: str, errors: list[str]) -> str | None:
    code = raw.replace("<", "")
    if not code:
        errors.append(f"{label}: empty")
        return None
    if not raw.startswith(code) or not codes.state_ok(code):
        errors.append(f"{label}: unknown code {raw!r}")
    return code


def _clean_optional(raw: str) -> str | None:
    text = " ".join(p for p in raw.split("<") if p)
    return text or None


def parse_mrz(text: str, today: dt.date | None = None) -> MrzResult:
    """Parse one document's MRZ (its lines separated by newlines). Never raises."""
    try:
        today = today or dt.date.today()
        return _fast(text, today) or _parse(text, today)
    except Exception as exc:  # a parser bug must never take the station down; the result says so
        return MrzResult(errors=(f"internal: {type(exc).__name__}",))


_STATES = codes.STATE_CODES
_SEX = {"M": "M", "F": "F", "<": "X", "X": "X"}


def _result(values: dict[str, Any]) -> MrzResult:
    """Build a frozen MrzResult without the per-field object.__setattr__ of a frozen __init__ (~6 µs)."""
    obj = object.__new__(MrzResult)
    obj.__dict__.update(values)
    return obj


# One regular expression per layout validates every field's character class and cuts the fields in
# a single C call; only MRZs that match go through `_fast`.
_L, _A, _D = "[A-Z<]", "[A-Z0-9<]", "[0-9]"
_FAST_RES = {
    "TD1": re.compile(rf"({_L}{{2}})({_L}{{3}})({_A}{{9}})([0-9<])({_A}{{15}})\s+({_D}{{6}})({_D})([MFX<])({_D}{{6}})"
                      rf"({_D})({_L}{{3}})({_A}{{11}})({_D})\s+({_L}{{30}})\s*"),
    "TD2": re.compile(rf"({_L}{{2}})({_L}{{3}})({_L}{{31}})\s+({_A}{{9}})([0-9<])({_L}{{3}})({_D}{{6}})({_D})([MFX<])"
                      rf"({_D}{{6}})({_D})({_A}{{7}})({_D})\s*"),
    "TD3": re.compile(rf"({_L}{{2}})({_L}{{3}})({_L}{{39}})\s+({_A}{{9}})({_D})({_L}{{3}})({_D}{{6}})({_D})([MFX<])"
                      rf"({_D}{{6}})({_D})({_A}{{14}})([0-9<])({_D})\s*"),
    "MRVA": re.compile(rf"({_L}{{2}})({_L}{{3}})({_L}{{39}})\s+({_A}{{9}})({_D})({_L}{{3}})({_D}{{6}})({_D})([MFX<])"
                       rf"({_D}{{6}})({_D})({_A}{{16}})\s*"),
    "MRVB": re.compile(rf"({_L}{{2}})({_L}{{3}})({_L}{{31}})\s+({_A}{{9}})({_D})({_L}{{3}})({_D}{{6}})({_D})([MFX<])"
                       rf"({_D}{{6}})({_D})({_A}{{8}})\s*"),
}
_FAST_FMT = {(2, "V", 36): "MRVB", (2, "V", 44): "MRVA", (2, "", 36): "TD2", (2, "", 44): "TD3"}
_VALID_CODES = {
    fmt: frozenset(a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ<" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
                   if not codes.document_code_problem(a + b, fmt))
    for fmt in LAYOUTS
}


@functools.lru_cache(maxsize=1 << 16)
def _cached_date(raw: str, birth: bool, today: dt.date) -> tuple[dt.date, str] | None:
    """(date, ISO text) of an all-digit MRZ date under the century rule; pure, so memoised."""
    errors: list[str] = []
    d = _date(raw, "birth_date" if birth else "expiry_date", today, errors)
    return None if d is None else (d, d.isoformat())


def _ok(data: str, cd: str) -> bool:
    """Check digit `cd` (a digit) over `data` (already known to be in the MRZ alphabet)."""
    v = data.encode("ascii").translate(_MOD10_TABLE)
    return (7 * sum(v[0::3]) + 3 * sum(v[1::3]) + sum(v[2::3])) % 10 == ord(cd) - 48


_DATE_CD: dict[str, str] = {}   # check digit of a 6-digit date: few distinct values, so remembered


def _date_ok(raw: str, cd: str) -> bool:
    got = _DATE_CD.get(raw)
    if got is None:
        if len(_DATE_CD) > 200_000:
            _DATE_CD.clear()
        got = _DATE_CD[raw] = check_digit(raw) or ""
    return got == cd


def _fast(text: str, today: dt.date) -> MrzResult | None:
    """The common case, a well-formed MRZ, parsed at C speed; None hands the text to the full parser.

    Well-formed: every field holds only what it may (digits in dates and check digits, letters in
    names...), real dates, known codes. Its check digits may still fail (that is reported, and with
    digits only there is nothing to correct). Anything else (unknown date parts, look-alike letters,
    wrong lengths, unknown codes) goes to `_parse`. Tests assert both paths give identical results.
    """
    if not isinstance(text, str) or len(text) > 200:
        return None
    text = text.strip()
    n_lines = text.count("\n") + 1
    first = text.find("\n")
    if n_lines == 3:
        fmt = "TD1"
    elif n_lines == 2:
        fmt = _FAST_FMT.get((2, "V" if text[0] == "V" else "", first))
    else:
        return None
    m = _FAST_RES[fmt].fullmatch(text) if fmt else None
    if m is None:
        return None
    g = m.groups()
    if fmt == "TD1":
        code, issuing_raw, number, ncd, optional, birth_raw, bcd, sex, expiry_raw, ecd, nat_raw, opt2, comp, name = g
        if ncd == "<":
            cut = optional.find("<")
            if cut <= 1 or not optional[cut - 1].isdigit():
                return None
            number, ncd, optional = number + optional[:cut - 1], optional[cut - 1], optional[cut + 1:]
        composite = g[2] + g[3] + g[4] + birth_raw + bcd + expiry_raw + ecd + opt2
        opt_cd = None
    else:
        code, issuing_raw, name, number, ncd, nat_raw, birth_raw, bcd, sex, expiry_raw, ecd, optional = g[:12]
        opt2 = None
        if fmt == "TD3":
            opt_cd, comp = g[12], g[13]
            composite = number + ncd + birth_raw + bcd + expiry_raw + ecd + optional + opt_cd
        elif fmt == "TD2":
            if ncd == "<":
                cut = optional.find("<")
                if cut <= 1 or not optional[cut - 1].isdigit():
                    return None
                number, ncd, optional = number + optional[:cut - 1], optional[cut - 1], optional[cut + 1:]
            comp, opt_cd = g[12], None
            composite = g[3] + g[4] + birth_raw + bcd + expiry_raw + ecd + g[11]
        else:
            comp = opt_cd = composite = None
    if ncd == "<":
        return None
    checks = {"document_number": _ok(number, ncd), "birth_date": _date_ok(birth_raw, bcd),
              "expiry_date": _date_ok(expiry_raw, ecd)}
    if opt_cd is not None:
        checks["optional_data"] = _ok(optional, opt_cd) if opt_cd != "<" else not optional.strip("<")
    if composite is not None:
        checks["composite"] = _ok(composite, comp)
    # Digit-only positions matched [0-9] above, so there is nothing to correct: a failed check is final.
    errors = tuple(f"check_digit: {name} does not verify" for name, ok in checks.items() if not ok)
    number = number.rstrip("<")
    issuing, nationality = issuing_raw.replace("<", ""), nat_raw.replace("<", "")
    if not (number and code in _VALID_CODES[fmt] and issuing in _STATES and nationality in _STATES
            and issuing_raw.startswith(issuing) and nat_raw.startswith(nationality)):
        return None
    bd = _cached_date(birth_raw, True, today)
    ed = _cached_date(expiry_raw, False, today)
    if bd is None or ed is None:
        return None
    primary, _, secondary = name.rstrip("<").partition("<<")
    surname = " ".join(primary.replace("<", " ").split())
    if not surname:
        return None
    birth, expiry = bd[0], ed[0]
    return _result({
        "format": fmt, "document_code": code.rstrip("<"), "issuing_state": issuing, "surname": surname,
        "given_names": " ".join(secondary.replace("<", " ").split()) or None, "document_number": number,
        "nationality": nationality, "birth_date": bd[1], "expiry_date": ed[1], "sex": _SEX[sex],
        "optional_data": " ".join(optional.replace("<", " ").split()) or None,
        "optional_data_2": (" ".join(opt2.replace("<", " ").split()) or None) if opt2 is not None else None,
        "valid": not errors, "checks": checks, "corrections": (), "expired": expiry < today,
        "age": today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day)),
        "errors": errors, "lines": tuple(text.split()),
    })


def _parse(text: str, today: dt.date) -> MrzResult:
    if not isinstance(text, str):
        return MrzResult(errors=("not_mrz: input is not text",))
    if len(text) > MAX_INPUT_CHARS:
        return MrzResult(errors=(f"not_mrz: {len(text)} characters is far too long for an MRZ",))
    lines = normalise_lines(text)
    if not lines:
        return MrzResult(errors=("not_mrz: empty input",))
    if not _looks_like_mrz(lines):
        return MrzResult(errors=("not_mrz: no machine-readable zone in the input",))
    errors: list[str] = []
    joined = "".join(lines)
    if joined != joined.upper():
        errors.append("charset: lowercase letters (an MRZ is upper case)")
        lines = [ln.upper() for ln in lines]
        joined = joined.upper()
    bad = sorted(set(joined.translate(_NOT_ALPHABET)))
    if bad:
        errors.append(f"charset: characters not allowed in an MRZ: {''.join(bad)!r}")
    lay = layout_for(len(lines), len(lines[0]), lines[0][:1]) if len({len(ln) for ln in lines}) == 1 else None
    if lay is None:
        lay = _guess_layout(lines, errors)
    w = _Work(lay, list(_fit(lines, lay)), errors, [])
    return _fields(w, today)


def _fields(w: _Work, today: dt.date) -> MrzResult:
    lay, errors = w.lay, w.errors
    checks: dict[str, bool] = {}
    number: str | None = None
    for name, (data_field, cd_field) in lay.checked.items():
        ok, overflow_number = _check_field(w, name, data_field, cd_field)
        checks[name] = ok
        if overflow_number is not None:
            number = overflow_number
    if lay.composite:
        checks["composite"] = _check_composite(w)
    for name, ok in checks.items():
        if not ok:
            errors.append(f"check_digit: {name} does not verify")

    doc_code = w.get("document_code")
    problem = codes.document_code_problem(doc_code, lay.fmt)
    if problem:
        errors.append(f"document_code: {problem}")
    optional = w.get("optional_data")
    if number is None:
        number = w.get("document_number").rstrip("<")
    elif lay.overflow:
        optional = optional[optional.find("<") + 1:]
    if not number:
        errors.append("document_number: empty")
    birth = _date(w.get("birth_date"), "birth_date", today, errors)
    expiry = _date(w.get("expiry_date"), "expiry_date", today, errors)
    sex_raw = w.get("sex")
    sex = {"M": "M", "F": "F", "<": "X", "X": "X"}.get(sex_raw)
    if sex is None:
        errors.append(f"sex: {sex_raw!r} is not M, F, X or '<'")
    surname, given = _names(w.get("name"), errors)
    age = None
    if birth:
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    joined = "".join(w.chars)
    return _result(dict(
        format=lay.fmt,
        document_code=doc_code.rstrip("<") or None,
        issuing_state=_state(w.get("issuing_state"), "issuing_state", errors),
        surname=surname,
        given_names=given,
        document_number=number or None,
        nationality=_state(w.get("nationality"), "nationality", errors),
        birth_date=birth.isoformat() if birth else None,
        expiry_date=expiry.isoformat() if expiry else None,
        sex=sex,
        optional_data=_clean_optional(optional),
        optional_data_2=_clean_optional(w.get("optional_data_2")) if "optional_data_2" in lay.fields else None,
        valid=not errors and all(checks.values()),
        checks=checks,
        corrections=tuple(w.corrections),
        expired=None if expiry is None else expiry < today,
        age=age,
        errors=tuple(errors),
        lines=tuple(joined[i:i + lay.length] for i in range(0, lay.total, lay.length)),
    ))
