import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.clock import utc_now
from edge.events import envelope
from edge.events.model import Crossing, Decision, DocumentSummary
from edge.events.seal import seal, unseal

KEY = Ed25519PrivateKey.generate()


def crossing(**kw) -> Crossing:
    base = dict(post="p1", device="d1", role="kiosk", transaction="ABCD-EFGH",
                decision=Decision(outcome="admit", by="officer-7"),
                document=DocumentSummary(format="TD3", surname="ÉRIKSSON", given_names="ANNA MARIA", valid=True))
    base.update(kw)
    return Crossing(**base)


def build(seq: int = 1, data=None) -> dict:
    return envelope.build("crossing", data or crossing(), key=KEY, post="p1", device="d1", sequence=seq,
                          time=utc_now(), clock_synced=False)


def test_signed_event_verifies_and_carries_cloudevents_attributes():
    ev = build(42)
    assert ev["specversion"] == "1.0" and ev["type"] == "org.borderpost.crossing.v2"
    assert ev["source"] == "/borderpost/p1/d1" and ev["sequence"] == "00000000000000000042"
    assert ev["clocksynced"] is False and ev["id"][14] == "7"  # UUID version 7
    v = envelope.verify(envelope.encode(ev), KEY.public_key())
    assert v.ok and v.sequence == 42 and v.event_id == ev["id"]


def test_ids_are_sortable_by_creation():
    ids = [build(i)["id"] for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_any_change_breaks_the_signature():
    ev = build()
    for mutate in (
        lambda e: e["data"]["document"].update(surname="OTHER"),
        lambda e: e.update(sequence="00000000000000000002"),
        lambda e: e.update(time="2020-01-01T00:00:00.000Z"),
        lambda e: e["data"]["decision"].update(outcome="refuse"),
    ):
        tampered = json.loads(json.dumps(ev))
        mutate(tampered)
        v = envelope.verify(tampered, KEY.public_key())
        assert not v.ok and v.reason == "bad signature"


def test_wrong_key_and_malformed_input_are_reasons_not_exceptions():
    other = Ed25519PrivateKey.generate().public_key()
    assert "signed by key" in envelope.verify(build(), other).reason
    assert not envelope.verify(b"\xff\xfe", KEY.public_key()).ok
    assert envelope.verify(b"[1,2]", KEY.public_key()).reason == "not a JSON object"
    ev = build()
    del ev["sequence"]
    assert envelope.verify(ev, KEY.public_key()).reason == "missing attribute 'sequence'"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_verify_never_raises_on_arbitrary_bytes(blob):
    assert not envelope.verify(blob, KEY.public_key()).ok


@settings(max_examples=40, deadline=None)
@given(surname=st.text(max_size=40), note=st.one_of(st.none(), st.text(max_size=80)), seq=st.integers(1, 10**12))
def test_round_trip_for_any_text(surname, note, seq):
    data = crossing(document=DocumentSummary(surname=surname),
                    decision=Decision(outcome="refuse", by="o1", note=note, reason_codes=["R1"]))
    ev = build(seq, data)
    assert envelope.verify(envelope.encode(ev).decode(), KEY.public_key()).ok


def test_sealed_biometrics_open_only_with_the_agency_key():
    agency = X25519PrivateKey.generate()
    sealed = seal({"face": "aGVsbG8="}, agency.public_key(), "crossing-1")
    assert "aGVsbG8" not in sealed.ciphertext
    assert unseal(sealed, agency) == {"face": "aGVsbG8="}
    import pytest
    from cryptography.exceptions import InvalidTag

    with pytest.raises((InvalidTag, ValueError)):
        unseal(sealed, X25519PrivateKey.generate())
    with pytest.raises((InvalidTag, ValueError)):
        unseal(sealed.model_copy(update={"crossing_id": "crossing-2"}), agency)  # bound to its crossing


def test_text_that_is_not_valid_unicode_is_recorded_not_refused():
    """An officer's note can arrive with a lone surrogate (JSON "\\udc80" from a browser): the decision must still be
    signed and recorded (the bad code point replaced), not lost to an encoding error."""
    ev = build(1, crossing(decision=Decision(outcome="refuse", by="o1", note="a\udc80b")))
    wire = envelope.encode(ev)
    assert envelope.verify(wire, KEY.public_key()).ok
    assert json.loads(wire)["data"]["decision"]["note"] == "a\ufffdb"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(attr=st.sampled_from(["specversion", "id", "sequence", "signature", "keyid", "data", "type", "time"]),
       value=JSON_VALUES)
def test_verify_never_raises_on_any_attribute_value(attr, value):
    """A forged event that names the right key (inf, NaN, 2**70, nesting in any attribute) gets a reason."""
    ev = build(7)
    ev[attr] = value
    v = envelope.verify(ev, KEY.public_key())
    assert isinstance(v.ok, bool)
    wire = json.dumps(ev, allow_nan=True).encode()
    assert isinstance(envelope.verify(wire, KEY.public_key()).ok, bool)


def test_verify_never_raises_on_deep_nesting_or_infinite_sequence():
    assert not envelope.verify(b"[" * 5000 + b"]" * 5000, KEY.public_key()).ok
    ev = build(7)
    ev["sequence"] = float("inf")
    assert envelope.verify(ev, KEY.public_key()).reason == "sequence is not a number"


def test_a_score_that_is_not_a_number_is_recorded_as_null_not_refused():
    """A matcher that divides by a zero-length embedding gives NaN: the crossing must still be signed and recorded
    (JSON has no NaN; pydantic's own JSON says null), not lost to a canonicalisation error."""
    from edge.events.model import FaceResult

    ev = build(1, crossing(face=FaceResult(match_score=float("nan"), threshold=float("inf"), quality=55.5)))
    wire = envelope.encode(ev)
    assert b"NaN" not in wire and b"Infinity" not in wire
    assert envelope.verify(wire, KEY.public_key()).ok
    face = json.loads(wire)["data"]["face"]
    assert face["match_score"] is None and face["threshold"] is None and face["quality"] == 55.5
