"""ICAO 9303 Part 3 check digits: weights 7-3-1 repeating, A-Z = 10-35, `<` = 0, sum modulo 10."""

from __future__ import annotations

MRZ_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")

_VALUES: dict[str, int] = {str(d): d for d in range(10)}
_VALUES.update({chr(ord("A") + i): 10 + i for i in range(26)})
_VALUES["<"] = 0
_WEIGHTS = (7, 3, 1)


def char_value(c: str) -> int | None:
    """The check-digit value of one MRZ character, or None for a character the MRZ cannot hold."""
    return _VALUES.get(c)


def check_digit(data: str) -> str | None:
    """The check digit ('0'-'9') over `data`, or None when `data` holds a character outside the MRZ alphabet."""
    total = 0
    for i, c in enumerate(data):
        v = _VALUES.get(c)
        if v is None:
            return None
        total += v * _WEIGHTS[i % 3]
    return str(total % 10)
