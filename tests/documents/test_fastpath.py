"""The compiled scan and look-alike search (`_mrzscan.c`) and their Python twins give the same answer on any
input; both fast paths agree with the full parser; the install really compiled the extension."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.documents import fastpath
from edge.documents.checkdigit import CONFUSABLE, lookalike_repairs
from edge.documents.layout import LAYOUTS
from edge.documents.mrz import _parse
from edge.documents.result import mrz_date
from tests.documents.test_properties import ALPHA, TODAY, documents

TABLES = {fmt: fastpath.layout_tables(lay) for fmt, lay in LAYOUTS.items()}
compiled = pytest.mark.skipif(fastpath._scan_c is None, reason="the extension was not built")
PY_PARSERS = fastpath.build_parsers(fastpath._scan_py, lookalike_repairs)


def _both(text: object, classes: bytes, checks: bytes) -> tuple[object, object]:
    """(C answer, Python answer), an exception standing for itself by type."""
    out = []
    for scan in (fastpath._scan_c, fastpath._scan_py):
        try:
            out.append(scan(text, classes, checks))
        except (ValueError, TypeError) as exc:
            out.append(type(exc))
    return out[0], out[1]


def _damaged(text: str, data: st.DataObject) -> str:
    for _ in range(data.draw(st.integers(0, 3))):
        pos = data.draw(st.integers(0, len(text) - 1))
        text = text[:pos] + data.draw(st.sampled_from([*ALPHA, "a", " ", "\n", "é", "\x00"])) + text[pos + 1:]
    return text


def test_the_install_compiled_the_scan() -> None:
    """`make test`/CI install with a compiler: a silent fall back to Python would miss bench/mrz_parse's goal."""
    if os.environ.get("BORDERPOST_NO_EXTENSION"):
        pytest.skip("BORDERPOST_NO_EXTENSION is set")
    assert fastpath.IMPLEMENTATION == "compiled"
    assert fastpath.SCAN is fastpath._scan_c
    assert fastpath.REPAIRS is fastpath._lookalikes_c


def test_layout_tables_describe_td3() -> None:
    """Doc 9303 Part 4 TD3: 44 + newline + 44; number check over line 2 columns 1-9, digit in column 10."""
    classes, checks, names = TABLES["TD3"]
    assert len(classes) == 89 and classes[44:45] == b"\n"
    assert classes[:5] == b"LLLLL" and classes[45:54] == b"A" * 9 and classes[54:55] == b"D"
    assert names == ("document_number", "birth_date", "expiry_date", "optional_data", "composite")
    assert checks[:5] == bytes([ord("P"), 54, 1, 45, 54])
    assert checks[-9:] == bytes([ord("P"), 88, 3, 45, 55, 58, 65, 66, 88])


def test_scan_verdicts_on_the_icao_specimen() -> None:
    text = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
    classes, checks, _ = TABLES["TD3"]
    assert fastpath._scan_py(text, classes, checks) == 0b11111
    bad = text.replace("7408122", "7408123")
    assert fastpath._scan_py(bad, classes, checks) == 0b01101   # the birth date's and the composite's fail
    assert fastpath._scan_py(text.replace("L898", "l898"), classes, checks) is None


def test_scan_reports_the_overflow_cut() -> None:
    """Doc 9303 Part 5 Appendix: D23145890734 over TD1, `<` check digit, tail `734` then its check digit."""
    text = "I<UTOD23145890<7349<<<<<<<<<<<\n3407127M9507122UTO<<<<<<<<<<<2\nSTEVENSON<<PETER<JOHN<<<<<<<<<"
    classes, checks, _ = TABLES["TD1"]
    for scan in filter(None, (fastpath._scan_c, fastpath._scan_py)):
        got = scan(text, classes, checks)
        assert got is not None and got & 255 == 0b1111 and (got >> 8) - 1 == 4
    r = fastpath.parse_fast(text, TODAY)
    assert r is not None and r.document_number == "D23145890734" and r.valid


@compiled
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_compiled_and_python_scan_agree_on_documents(doc: tuple, data: st.DataObject) -> None:
    fmt, _, lines = doc
    text = _damaged("\n".join(lines), data)
    for f in TABLES:   # every format's table, also on the other formats' text
        classes, checks, _ = TABLES[f]
        c, p = _both(text, classes, checks)
        assert c == p, (f, fmt)


@compiled
@settings(max_examples=400)
@given(st.text(max_size=100), st.sampled_from(sorted(TABLES)))
def test_compiled_and_python_scan_agree_on_any_text(text: str, fmt: str) -> None:
    classes, checks, _ = TABLES[fmt]
    c, p = _both(text, classes, checks)
    assert c == p


@compiled
@settings(max_examples=400)
@given(documents(), st.binary(max_size=40), st.binary(max_size=100))
def test_compiled_and_python_scan_agree_on_any_table(doc: tuple, checks: bytes, noise: bytes) -> None:
    """Malformed tables raise ValueError in both; never a crash or a read past the text."""
    text = "\n".join(doc[2])
    classes = TABLES[doc[0]][0]
    c, p = _both(text, classes, checks)
    assert c == p
    c, p = _both(text, noise, checks)   # classes of random bytes, also above 127
    assert c == p


@st.composite
def tables(draw: st.DrawFn, n: int) -> bytes:
    """Well-formed checks tables over a text of n characters (any kinds, positions and ranges)."""
    out = bytearray()
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from("PONX"))
        k = 2 if kind == "N" else draw(st.integers(0, 4))
        ranges = [sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2))) for _ in range(k)]
        out += bytes([ord(kind), draw(st.integers(0, n - 1)), k, *(x for r in ranges for x in r)])
    return bytes(out)


@compiled
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_compiled_and_python_scan_agree_on_well_formed_tables(doc: tuple, data: st.DataObject) -> None:
    """Any check over any ranges (also across the newline, also a `<` in an overflow number): same bits."""
    text = "\n".join(doc[2])
    n = len(text)
    classes = data.draw(st.sampled_from([TABLES[doc[0]][0], b"A" * n, bytes(
        b"\n"[0] if c == "\n" else ord("d") if c.isdigit() or c == "<" else ord("A") for c in text)]))
    checks = data.draw(tables(n))
    c, p = _both(text, classes, checks)
    assert c == p


@compiled
def test_compiled_scan_rejects_wrong_argument_types() -> None:
    classes, checks, _ = TABLES["TD3"]
    assert _both(b"bytes", classes, checks) == (None, None)
    assert _both("x", "str", checks) == (TypeError, TypeError)
    with pytest.raises(TypeError):
        fastpath._scan_c("x", classes)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_python_fast_path_agrees_with_full_parser(doc: tuple, data: st.DataObject) -> None:
    """Without the extension the fast path runs `_scan_py`: it too must answer only what `_parse` says."""
    text = _damaged("\n".join(doc[2]), data).strip()
    pair = PY_PARSERS.get(len(text))
    got = pair[text[0] == "V"](text, TODAY) if pair else None
    if got is not None:
        assert got == _parse(text, TODAY)


def test_date_cache_is_per_reference_date() -> None:
    """The same MRZ read either side of an expiry date: `expired` follows the reference date, not the cache."""
    text = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
    before, after = dt.date(2012, 4, 14), dt.date(2012, 4, 16)
    assert fastpath.parse_fast(text, before).expired is False
    assert fastpath.parse_fast(text, after).expired is True
    assert fastpath.parse_fast(text, before).expired is False
    assert fastpath.parse_fast(text, before).age == 37 and fastpath.parse_fast(text, after).age == 37


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_fast_path_lookalike_repairs_agree_with_full_parser(doc: tuple, data: st.DataObject) -> None:
    """One or two characters of the checked alphanumeric fields changed (look-alikes or any character):
    the fast path's arithmetic repair (none, one officer-confirmed, several refused) is the full parser's."""
    fmt, _, lines = doc
    lay = LAYOUTS[fmt]
    text = "\n".join(lines)
    spans = [fastpath._span(lay, f) for f in ("document_number", "optional_data") if f in lay.checked]
    for _ in range(data.draw(st.integers(1, 2))):
        span = data.draw(st.sampled_from(spans))
        pos = data.draw(st.integers(span.start, span.stop - 1))
        alts = CONFUSABLE.get(text[pos], "") or "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        text = text[:pos] + data.draw(st.sampled_from(sorted(alts))) + text[pos + 1:]
    full = _parse(text, TODAY)
    for parsers in (fastpath._PARSERS, PY_PARSERS):
        got = parsers[len(text)][text[0] == "V"](text, TODAY)
        if got is not None:
            assert got == full


MRZ_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"


@compiled
@settings(max_examples=2000)
@given(st.text(MRZ_CHARS, max_size=24), st.sampled_from("0123456789"), st.none() | st.integers(0, 30))
def test_compiled_lookalike_search_equals_python(data: str, cd: str, within: int | None) -> None:
    """`_mrzscan.lookalikes` is `checkdigit.lookalike_repairs`: the same count and the same unique repair."""
    assert fastpath._lookalikes_c(data, cd, within) == lookalike_repairs(data, cd, within)


@compiled
@pytest.mark.parametrize("args", [("L8é98", "1"), ("L8a98", "1"), ("L898", "x"), ("L898", "12"), ("L898", "1", -1)])
def test_compiled_lookalike_search_refuses_what_is_no_mrz(args: tuple) -> None:
    """Outside the MRZ alphabet, a check digit that is no digit, a negative bound: an error, never a guess."""
    with pytest.raises(ValueError):
        fastpath._lookalikes_c(*args)


def test_fast_path_answers_lookalike_repairs() -> None:
    """The ICAO specimen's number with 0 read as O (one repair verifies: officer confirms) and with 2 read
    as Z (three verify: none chosen): both answered on the fast path, exactly as the full parser does."""
    text = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
    one = text.replace("L898902C3", "L8989O2C3")
    got = fastpath.parse_fast(one, TODAY)
    assert got is not None and got == _parse(one, TODAY)
    assert got.document_number == "L898902C3" and got.uncertain_fields == {"document_number": ("L8989O2C3",)}
    assert not got.valid
    assert got.corrections == ("document_number: line 2 column 6 'O' -> '0' (look-alike; officer confirms)",)
    several = text.replace("L898902C3", "L89890ZC3")
    got = fastpath.parse_fast(several, TODAY)
    assert got is not None and got == _parse(several, TODAY) and not got.valid
    assert "document_number: 3 different look-alike repairs verify; none chosen" in got.errors


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(("TD1", "TD2")), st.text(ALNUM, min_size=10, max_size=13), st.data())
def test_fast_path_answers_a_damaged_long_document_number(fmt: str, number: str, data: st.DataObject) -> None:
    """A long document number (check digit in the optional data) with a character of its first nine changed,
    or of its tail: answered on the fast path (no 30-200 µs full parse) exactly as the full parser does."""
    import random

    from edge.documents.synth import make_mrz

    lines = make_mrz(fmt, rng=random.Random(data.draw(st.integers(0, 2**32))), document_number=number,
                     optional_data="")
    text = "\n".join(lines)
    lay = LAYOUTS[fmt]
    span = fastpath._span(lay, "document_number")
    pos = data.draw(st.integers(span.start, span.stop - 1 + len(number) - 9))
    if pos >= span.stop:   # in the tail, which opens the optional data
        pos = fastpath._span(lay, "optional_data").start + pos - span.stop
    alts = CONFUSABLE.get(text[pos], "") or "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = text[:pos] + data.draw(st.sampled_from(sorted(alts))) + text[pos + 1:]
    full = _parse(text, TODAY)
    for parsers in (fastpath._PARSERS, PY_PARSERS):
        got = parsers[len(text)][text[0] == "V"](text, TODAY)
        assert got is not None and got == full


@pytest.mark.parametrize("today", [dt.date(2026, 11, 29), dt.date(2024, 2, 29), dt.date(2000, 2, 29),
                                   dt.date(1999, 1, 1), dt.date(2099, 12, 31)])
def test_date_arithmetic_is_mrz_date(today: dt.date) -> None:
    """The fast path's dates (integer arithmetic, `mrz_date` only for 29 February and non-dates) equal the full
    parser's on every two-digit year, month 00-13 and day 00-32: ISO form, age or expiry, and the error."""
    for raw in (f"{yy:02d}{mm:02d}{dd:02d}" for yy in range(100) for mm in range(14) for dd in range(33)):
        errors: list[str] = []
        d = mrz_date(raw, "birth_date", today, errors)
        assert fastpath._birth(raw, today, {}) == ((None, None, errors[0]) if d is None else (
            d.isoformat(), today.year - d.year - ((today.month, today.day) < (d.month, d.day)), None)), raw
        errors = []
        d = mrz_date(raw, "expiry_date", today, errors)
        assert fastpath._expiry(raw, today, {}) == ((None, None, errors[0]) if d is None else (
            d.isoformat(), d < today, None)), raw
