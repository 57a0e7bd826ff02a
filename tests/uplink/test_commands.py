"""`commands.check` is the uplink's only door for input from the network: it answers everything with a verdict."""

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.uplink import commands

AGENCY = Ed25519PrivateKey.generate()
TARGET = "post-t/dev-t"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["id", "name", "target", "issued_at", "args", "signature", "extra"]), value=JSON_VALUES)
def test_any_field_value_gets_a_verdict(field, value):
    original = json.loads(commands.sign("ping", {}, TARGET, AGENCY, "c1"))
    msg = {**original, field: value}
    verdict = commands.check(json.dumps(msg, allow_nan=True).encode(), "ping", TARGET, AGENCY.public_key())
    assert isinstance(verdict, commands.Command | commands.Rejection)
    if isinstance(verdict, commands.Command):   # only a value equal to the signed one can pass
        assert field in original and value == original[field]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_get_a_verdict(blob):
    assert isinstance(commands.check(blob, "ping", TARGET, AGENCY.public_key()), commands.Rejection)


def test_bool_is_not_a_time_and_nesting_is_not_a_crash():
    msg = json.loads(commands.sign("ping", {}, TARGET, AGENCY, "c2"))
    msg["issued_at"] = True
    assert commands.check(json.dumps(msg).encode(), "ping", TARGET, AGENCY.public_key()).reason.startswith("field")
    deep = b'{"id":"x","args":' + b"[" * 3000 + b"]" * 3000 + b"}"
    assert isinstance(commands.check(deep, "ping", TARGET, AGENCY.public_key()), commands.Rejection)
