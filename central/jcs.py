"""RFC 8785 (JCS) canonical JSON, fast for the values events carry, exact otherwise.

Why: the ingest re-canonicalises every event to check its signature, and the pure-Python `rfc8785` package
takes about 7x as long as the C `json` encoder per event. For JSON whose keys are ASCII, whose integers are
exact in a double and whose floats print the same in Python and ECMAScript (integral floats become integers,
others within 1e-4..1e16), `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` produces
the same bytes as JCS: the same escapes (only quote, backslash and control characters; lowercase \\u00xx) and
the same key order. Anything else goes to `rfc8785` itself. A property test holds the two equal.

`canonical_finite` is faster still for what `orjson.loads` made (no NaN or infinity can be in it): orjson's sorted
compact output is taken as it is unless it shows what JCS prints otherwise — an integral float (`1.0`), a float with
an exponent, an integer beyond 2**53 (refused by OPT_STRICT_INTEGER), a character beyond the BMP (JCS sorts keys by
UTF-16 units). The checks are byte searches over the output; text in strings that looks alike only sends the value
to the exact path. A property test holds it equal to `rfc8785` too.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import rfc8785

_MAX_EXACT = 2**53
_NON_BMP_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")   # UTF-8 lead bytes of 4-byte characters
_DIGITS = frozenset(b"0123456789")


class _Slow(Exception):
    pass


def _plain(value: Any) -> bool:
    """True when json.dumps prints `value` exactly as JCS does, as it is (no float to touch): the common case,
    checked without copying. False: look closer (`_prepare`)."""
    t = type(value)
    if t is str:
        return value.isascii()
    if t is dict:
        for k, v in value.items():  # noqa: SIM110 (a plain loop: this runs for every key of every event)
            if type(k) is not str or not k.isascii() or not _plain(v):
                return False
        return True
    if t is list:
        return all(_plain(v) for v in value)
    if t is int:
        return -_MAX_EXACT < value < _MAX_EXACT   # rfc8785 refuses 2**53 itself
    return value is None or t is bool


def _prepare(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Slow from None
        return value
    if isinstance(value, int):
        if abs(value) >= _MAX_EXACT:
            raise _Slow
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Slow
        if value.is_integer() and abs(value) < 1e21:
            return int(value) if abs(value) <= _MAX_EXACT else _raise()
        if not 1e-4 <= abs(value) < 1e16:   # where Python's repr prints like ECMAScript (no exponent)
            raise _Slow
        return value
    if isinstance(value, dict):
        if not all(isinstance(k, str) and k.isascii() for k in value):
            raise _Slow   # JCS sorts keys by UTF-16 code units; Python by code points
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    raise _Slow


def _raise() -> Any:
    raise _Slow


def canonical(value: Any) -> bytes:
    """JCS bytes of `value` (raises what `rfc8785.dumps` raises for what JCS cannot express)."""
    try:
        prepared = value if _plain(value) else _prepare(value)
    except (_Slow, RecursionError):
        return rfc8785.dumps(value)
    return json.dumps(prepared, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _in_number(out: bytes, i: int) -> bool:
    """Is the `e` at `i` inside a number token (digits, maybe '.' and '-', after ':', '[', ',' or the start)?"""
    j = i - 1
    if j < 0 or out[j] not in _DIGITS:
        return False
    while j >= 0 and (out[j] in _DIGITS or out[j] == 0x2E):
        j -= 1
    if j >= 0 and out[j] == 0x2D:
        j -= 1
    return j < 0 or out[j] in b":[,"


def _differs_from_jcs(out: bytes) -> bool:
    if not out.isascii() and any(lead in out for lead in _NON_BMP_LEADS):
        return True
    i = out.find(b".0")
    while i != -1:
        if out[i + 2:i + 3] in (b"", b",", b"]", b"}"):   # an integral float: JCS prints 1, orjson 1.0
            return True
        i = out.find(b".0", i + 2)
    for mark in (b"e+", b"e-"):
        i = out.find(mark)
        while i != -1:
            if _in_number(out, i):
                return True
            i = out.find(mark, i + 2)
    return False


def canonical_finite(value: Any) -> bytes:
    """JCS bytes of `value`, which holds no NaN or infinity (orjson would print them as null)."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER)
    except TypeError:   # orjson.JSONEncodeError: integers beyond 2**53, keys that are not strings, ...
        return canonical(value)
    return canonical(value) if _differs_from_jcs(out) else out
