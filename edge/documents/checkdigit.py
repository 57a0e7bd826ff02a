"""ICAO 9303 Part 3 check digits: weights 7-3-1 repeating, A-Z = 10-35, `<` = 0, sum modulo 10.

Only each character's value modulo 10 matters, so the sum is computed with one `bytes.translate`
and three slice sums (C speed): the parser is benchmarked at 100,000 documents.
"""

from __future__ import annotations

MRZ_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")

_VALUES: dict[str, int] = {str(d): d for d in range(10)}
_VALUES.update({chr(ord("A") + i): 10 + i for i in range(26)})
_VALUES["<"] = 0
_INVALID = 255
_MOD10 = bytes(_VALUES[chr(i)] % 10 if chr(i) in _VALUES else _INVALID for i in range(256))
_DIGITS = "0123456789"

# OCR-B look-alike groups (what readers confuse in alphanumeric fields), each character -> its look-alikes.
CONFUSION_GROUPS = ("0ODQ", "1IL", "2Z", "5S", "6G", "8B", "MHNW")
CONFUSABLE = {c: g.replace(c, "") for g in CONFUSION_GROUPS for c in g}
# Character -> per place in the 7-3-1 cycle, how each of its look-alikes moves the sum modulo 10.
_SHIFTS = {c: tuple(tuple(w * (_VALUES[a] - _VALUES[c]) % 10 for a in alts) for w in (7, 3, 1))
           for c, alts in CONFUSABLE.items()}


def char_value(c: str) -> int | None:
    """The check-digit value of one MRZ character, or None for a character the MRZ cannot hold."""
    return _VALUES.get(c)


def check_digit(data: str) -> str | None:
    """The check digit ('0'-'9') over `data`, or None when `data` holds a character outside the MRZ alphabet."""
    try:
        b = data.encode("ascii").translate(_MOD10)
    except UnicodeEncodeError:
        return None
    if _INVALID in b:
        return None
    return _DIGITS[(7 * sum(b[0::3]) + 3 * sum(b[1::3]) + sum(b[2::3])) % 10]


def mod10_values(data: str) -> bytes | None:
    """Each character's value modulo 10 (one byte each), or None if `data` leaves the MRZ alphabet."""
    try:
        b = data.encode("ascii").translate(_MOD10)
    except UnicodeEncodeError:
        return None
    return None if _INVALID in b else b


def weighted(b: bytes, start: int, end: int, phase: int = 0) -> int:
    """Σ value × weight over b[start:end], weights 7-3-1 starting at position `phase` of the cycle."""
    w0, w1, w2 = ((7, 3, 1), (3, 1, 7), (1, 7, 3))[phase % 3]
    return w0 * sum(b[start:end:3]) + w1 * sum(b[start + 1:end:3]) + w2 * sum(b[start + 2:end:3])


# Per place in the cycle and per needed change of the sum: character -> how many of its look-alikes make it.
_HITS = tuple(tuple(bytes(_SHIFTS[chr(i)][phase].count(need) if chr(i) in _SHIFTS else 0 for i in range(256))
                    for need in range(10)) for phase in range(3))


def lookalike_repairs(data: str, cd: str, within: int | None = None) -> tuple[int, tuple[int, str] | None]:
    """How many single look-alike substitutions in `data[:within]` make `data`'s check digit `cd`, and the
    one when unique (offset in `data`, new character). `within` is for a long document number, whose
    check digit also covers its tail in the optional data, where the parser repairs nothing.

    Arithmetic on the 7-3-1 sum, no re-verification, and counted with `bytes.translate` before any is
    listed: cheap enough for the parser's fast path, which answers damaged documents too (`bench/mrz_parse`).
    """
    raw = data.encode("ascii")
    b = raw.translate(_MOD10)
    need = (int(cd) - (7 * sum(b[0::3]) + 3 * sum(b[1::3]) + sum(b[2::3]))) % 10
    h0, h1, h2 = _HITS[0][need], _HITS[1][need], _HITS[2][need]
    if within is not None:
        raw = raw[:within]
    count = sum(raw[0::3].translate(h0)) + sum(raw[1::3].translate(h1)) + sum(raw[2::3].translate(h2))
    if count != 1:
        return count, None
    for i, c in enumerate(data[:within]):
        shifts = _SHIFTS.get(c)
        if shifts is not None and need in shifts[i % 3]:
            return 1, (i, CONFUSABLE[c][shifts[i % 3].index(need)])
    raise AssertionError("unreachable: the count found one")
