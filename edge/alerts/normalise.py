"""Names, dates and document numbers brought to the forms the matcher compares (pure functions).

Why a skeleton of our own rather than Soundex/Metaphone/NYSIIS (jellyfish): those codes are built for
English spellings and split the spellings that matter here (OUEDRAOGO/WEDRAOGO and DIALLO/JALLOW in all
three, CHEIKH/SHEIKH in NYSIIS and Soundex, HUSSEIN/HUSAYN in NYSIIS). The skeleton keeps the consonant
frame after folding the letter groups that Arabic, French-, English- and Portuguese-based romanisations write
differently.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Letters ICAO 9303 transliterates to two letters; the other recommended way drops the diacritic (MÜLLER:
# MUELLER or MULLER). Folding both ways to one form happens in `skeleton` (AE/OE/UE -> A/O/U).
_TWO_LETTER = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Å": "AA", "Æ": "AE", "Ø": "OE", "Œ": "OE",
               "Þ": "TH", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ŀ": "L", "Ĳ": "IJ", "Ñ": "N"}

# Name particles that are written joined to the next name or apart (AL HASSAN / ALHASSAN / EL-HASSAN).
PARTICLES = frozenset({
    "AL", "EL", "UL", "AD", "AN", "AR", "AS", "ASH", "AZ", "ABU", "ABOU", "ABO", "BU", "BOU", "BEN", "BIN",
    "BINT", "BENT", "IBN", "ABD", "ABDUL", "ABDEL", "ABDOUL", "ABDAL", "OULD", "WAD", "WALD",
    "VAN", "VON", "DER", "DEN", "DE", "DA", "DI", "DO", "DOS", "DAS", "DEL", "DELLA", "LA", "LE", "MAC", "MC",
})
# Prefixes that may be dropped altogether by one agency and kept by another (AL HASSAN / HASSAN).
DROPPABLE_PREFIXES = ("ABDUL", "ABDEL", "ABDOUL", "ABOU", "ABU", "BEN", "BIN", "IBN", "OULD", "AL", "EL",
                      "UL", "VAN", "VON", "DE", "DA", "DI")

_NOT_LETTER = re.compile(r"[^A-Z]+")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Upper-case A-Z and spaces: diacritics removed (two-letter ICAO forms kept), '<', '-', ''' as spaces."""
    text = str(text)
    if text.isascii():                   # most names: no diacritic to fold (and a list repeats them: cached)
        return " ".join(_NOT_LETTER.sub(" ", text.upper()).split())
    out: list[str] = []
    for ch in str(text).upper():
        two = _TWO_LETTER.get(ch)
        if two is not None:
            out.append(two)
            continue
        base = unicodedata.normalize("NFKD", ch)
        out.append("".join(c for c in base if not unicodedata.combining(c)))
    return " ".join(_NOT_LETTER.sub(" ", "".join(out).upper()).split())


def tokens(surname: str | None, given_names: str | None) -> list[str]:
    """The name's tokens, particles joined to the name that follows (AL HASSAN -> ALHASSAN)."""
    raw = (fold(surname or "") + " " + fold(given_names or "")).split()
    out: list[str] = []
    carry = ""
    for t in raw:
        if t in PARTICLES:
            carry += t
            continue
        out.append(carry + t)
        carry = ""
    if carry:
        out.append(carry)
    return out


@lru_cache(maxsize=65536)
def without_particle(token: str) -> str | None:
    """The token without a leading particle (ALHASSAN -> HASSAN), or None when it has none."""
    for p in DROPPABLE_PREFIXES:
        if token.startswith(p) and len(token) - len(p) >= 3:
            return token[len(p):]
    return None


# Letter groups written differently across romanisations, longest first (one pass, left to right).
_GROUPS = {
    "OU": "U", "OO": "U", "EE": "I", "AE": "A", "OE": "O", "UE": "U", "IE": "I", "DJ": "J", "DY": "J",
    "DI": "J", "TCH": "C", "TSH": "C", "CH": "S", "SH": "S", "KH": "K", "GH": "G", "PH": "F", "TH": "T", "DH": "D",
    "CK": "K", "CQ": "K", "Q": "K", "X": "KS", "Z": "S", "CE": "SE", "CI": "SI", "C": "K", "W": "U", "Y": "I",
    "V": "F",
}
_GROUP_RX = re.compile("TCH|TSH|OU|OO|EE|AE|OE|UE|IE|DJ|DY|DI(?=[AEIOU])|CH|SH|KH|GH|PH|TH|DH|CK|CQ|CE|CI|[QXZCWYV]")
_VOWELS = frozenset("AEIOU")
_DOUBLES = re.compile(r"(.)\1+")
_DROP = re.compile("[AEIOUH]")


@lru_cache(maxsize=65536)
def skeleton(token: str) -> str:
    """A spelling-tolerant key: letter groups folded, doubled letters single, vowels and inner H dropped
    (a leading vowel kept as 'A'), a final D as T. MOHAMMED, MUHAMMAD, MOHAMED -> MMT (and MAMADOU); HUSSEIN,
    HUSAYN, HOSSEIN -> HSN; OUEDRAOGO, WEDRAOGO -> ATRG; DIALLO, JALLOW -> JL (DI + vowel is J)."""
    s = _GROUP_RX.sub(lambda m: _GROUPS[m.group(0)], token)
    if not s:
        return ""
    s = _DOUBLES.sub(r"\1", s)
    out = ("A" if s[0] in _VOWELS else s[0]) + _DROP.sub("", s[1:])
    if len(out) > 1 and out.endswith("D"):
        out = out[:-1] + "T"
    return out


# ---------------------------------------------------------------- documents
_NOT_ALNUM = re.compile("[^A-Z0-9]+")
_OCR_FOLD = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8"})
_STATE_ALIASES = {"D": "DEU"}


@lru_cache(maxsize=4096)
def issuing_state(code: str | None) -> str:
    """ICAO state code, filler removed; Germany's 'D' is 'DEU'."""
    c = "".join(ch for ch in str(code or "").upper() if ch.isalpha())
    return _STATE_ALIASES.get(c, c)


def document_number(number: str | None) -> str:
    """A document number as compared: upper-case, filler and separators removed, OCR-confusable letters
    folded to their digits (O/Q/D->0, I/L->1, Z->2, S->5, B->8), so a misread O/0 or I/1 still matches."""
    return _NOT_ALNUM.sub("", str(number or "").upper()).translate(_OCR_FOLD)


def document_key(state: str | None, number: str | None) -> str:
    """What a document entry is keyed by: folded state, ':', folded number ('' when either is missing)."""
    s, n = issuing_state(state), document_number(number)
    return f"{s}:{n}" if s and n else ""


# ---------------------------------------------------------------- dates
_FULL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


def entry_date(text: str | None) -> tuple[str, str, str] | None:
    """An entry's birth date as (year, month, day), '' for parts not known; None when absent.
    Raises ValueError for a malformed value."""
    if text is None or text == "":
        return None
    s = str(text)
    for rx in (_FULL, _MONTH, _YEAR):
        m = rx.match(s)
        if m:
            parts = [*m.groups(), "", ""][:3]
            y, mo, d = parts
            if mo and not 1 <= int(mo) <= 12:
                raise ValueError(f"month {mo} out of range")
            if d and not 1 <= int(d) <= 31:
                raise ValueError(f"day {d} out of range")
            return y, mo, d
    raise ValueError("expected YYYY-MM-DD, YYYY-MM or YYYY")


def traveller_date(text: object) -> tuple[str, str, str] | None:
    """A traveller's birth date, as a passport read gives it (YYYY-MM-DD, with '?'/'<'/'X' for unread
    digits, or YYMMDD); None when unknown or unusable. Never raises."""
    if not isinstance(text, str):
        return None
    s = text.strip().upper()
    if re.fullmatch(r"\d{6}", s):
        y = int(s[:2])
        s = f"{'19' if y > 30 else '20'}{s[:2]}-{s[2:4]}-{s[4:]}"
    m = re.fullmatch(r"([0-9?<X]{4})-([0-9?<X]{2})-([0-9?<X]{2})", s)
    if m is None:
        try:
            return entry_date(s)
        except ValueError:
            return None
    y, mo, d = (p if p.isdigit() else "" for p in m.groups())
    if not y:
        return None
    return y, mo, d
