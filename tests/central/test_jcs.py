"""The fast canonical form is byte for byte RFC 8785 (the `rfc8785` package) for any JSON value."""

from __future__ import annotations

import json

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from central import jcs
from tests.central.helpers import device, event

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)


def same(value) -> None:
    try:
        expected = rfc8785.dumps(value)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            jcs.canonical(value)
        return
    assert jcs.canonical(value) == expected


@settings(max_examples=400)
@given(values)
def test_equal_to_rfc8785(value):
    same(value)


@pytest.mark.parametrize("value", [1.0, 0.1, 1e-7, 1e21, 1e20, 2.0**53 + 2, -0.0, 5e-324, "\x7f\x1f\u2028",
                                   {"é": 1, "e": 2, "\U0001f600": 3, "\uffff": 4}, "\ud800"])
def test_edges(value):
    same(value)


def test_a_real_event():
    ev = json.loads(event(device())[1])
    assert jcs.canonical(ev) == rfc8785.dumps(ev)


def same_finite(value) -> None:
    """What orjson parsed (no NaN or infinity) gets the RFC 8785 bytes from the orjson fast path too."""
    try:
        expected = rfc8785.dumps(value)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            jcs.canonical_finite(value)
        return
    assert jcs.canonical_finite(value) == expected


@settings(max_examples=400)
@given(values)
def test_finite_equal_to_rfc8785(value):
    same_finite(value)


@pytest.mark.parametrize("value", [1.0, 1.5, -0.0, [2.5], {"a": 1e16}, 1e-5, [3e-4, 1e-7], 1e21, 2**53,
                                   2**53 - 1, -(2**53), 2**53 + 1, 10**15, -(2**63), 2**64 + 1, "3e-4",
                                   {"u": "01a2-3e-4"}, [100.0], 1e15,
                                   "\x7f\x1f\u2028\"\\/", {"é": 1, "e": 2, "\U0001f600": 3, "\uffff": 4},
                                   {"t": "12:1.5,[3e4"}, {1: 2}])
def test_finite_edges(value):
    same_finite(value)


def test_a_real_event_takes_the_orjson_path():
    ev = orjson.loads(event(device())[1])
    assert jcs.canonical_finite(ev) == orjson.dumps(ev, option=orjson.OPT_SORT_KEYS) == rfc8785.dumps(ev)
