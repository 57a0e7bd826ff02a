"""The parser's fast path: a well-formed MRZ parsed with one regular expression and C-speed sums.

`parse_mrz` tries this first and falls back to the full parser (`edge.documents.mrz`) for anything
else; a hypothesis test asserts both give identical results, so only the full parser ever decides
unusual input (unknown date parts, look-alike letters, wrong lengths, unknown codes).
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from edge.documents import codes
from edge.documents.checkdigit import _MOD10 as _MOD10_TABLE
from edge.documents.checkdigit import check_digit
from edge.documents.layout import LAYOUTS
from edge.documents.result import SEX_CODES, MrzResult, make_result, mrz_date

_STATES = codes.STATE_CODES

# One regular expression per layout validates every field's character class and cuts the fields in
# a single C call; only MRZs that match go through `parse_fast`.
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
    d = mrz_date(raw, "birth_date" if birth else "expiry_date", today, errors)
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


def parse_fast(text: str, today: dt.date) -> MrzResult | None:
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
    errors = () if all(checks.values()) else tuple(
        f"check_digit: {name} does not verify" for name, ok in checks.items() if not ok)
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
    return make_result({
        "format": fmt, "document_code": code.rstrip("<"), "issuing_state": issuing, "surname": surname,
        "given_names": " ".join(secondary.replace("<", " ").split()) or None, "document_number": number,
        "nationality": nationality, "birth_date": bd[1], "expiry_date": ed[1], "sex": SEX_CODES[sex],
        "optional_data": " ".join(optional.replace("<", " ").split()) or None,
        "optional_data_2": (" ".join(opt2.replace("<", " ").split()) or None) if opt2 is not None else None,
        "valid": not errors, "checks": checks, "corrections": (), "expired": expiry < today,
        "age": today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day)),
        "errors": errors, "lines": tuple(text.split()),
    })
