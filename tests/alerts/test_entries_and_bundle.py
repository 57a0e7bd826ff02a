"""The list format and signed bundles: what is accepted, and every refusal with its reason."""

from __future__ import annotations

import contextlib
import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.alerts.bundle import (
    Assembler,
    BundleError,
    chunk_messages,
    make_bundle,
    open_bundle,
)
from edge.alerts.entries import ListError, dump_entries, parse_entries, parse_ops
from tests.alerts.helpers import document, person, snapshot

KEY = Ed25519PrivateKey.generate()
GOOD = {"id": "p1", "kind": "person", "reason": "r", "action": "refer", "surname": "DIALLO"}


def lines(*objs: object) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


@pytest.mark.parametrize(("bad", "says"), [
    (b"{not json", "line 2: not JSON"),
    ({**GOOD, "id": "p2", "kind": "vehicle"}, "line 2: kind"),
    ({**GOOD, "id": "p2", "action": "arrest"}, "line 2: action"),
    ({**GOOD, "id": "p2", "colour": "red"}, "line 2: unknown field 'colour'"),
    ({**GOOD, "id": "p2", "birth_date": "1985-13-01"}, "line 2: month 13"),
    ({**GOOD, "id": "p2", "birth_date": "07.03.1985"}, "line 2: expected YYYY-MM-DD"),
    ({"id": "d1", "kind": "document", "reason": "r", "action": "refuse", "issuing_state": "FRA"},
     "line 2: a document entry needs"),
    ({**GOOD}, "line 2: id 'p1' appears twice"),
    ([1, 2], "line 2: expected a JSON object"),
])
def test_a_malformed_entry_refuses_the_whole_list_naming_the_line(bad: object, says: str) -> None:
    with pytest.raises(ListError, match=says):
        parse_entries(lines(GOOD, bad))


def test_partial_birth_dates_and_deltas_parse() -> None:
    es = parse_entries(lines({**GOOD, "birth_date": "1985-03"}, {**GOOD, "id": "p2", "birth_date": "1985"}))
    assert [e.birth_date for e in es] == ["1985-03", "1985"]
    ops = parse_ops(lines({"op": "add", "entry": GOOD}, {"op": "remove", "id": "p9"}))
    assert [(o.op, o.id) for o in ops] == [("add", "p1"), ("remove", "p9")]
    with pytest.raises(ListError, match="line 1"):
        parse_ops(lines({"op": "remove", "id": "p9", "extra": 1}))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.lists(st.dictionaries(st.sampled_from([*sorted(GOOD), "sex", "birth_date"]),
                                                            st.none() | st.text(max_size=12) | st.integers()),
                                          max_size=4).map(lambda ds: lines(*ds)))
def test_parsing_refuses_with_list_error_or_accepts(data: bytes) -> None:
    try:
        parse_entries(data)
        parse_ops(data)
    except ListError:
        pass


def test_a_signed_snapshot_opens() -> None:
    b = snapshot(KEY, [person("p1", "DIALLO"), document("d1", "FRA", "12AB34567")], 7)
    got = open_bundle(b, KEY.public_key(), current_version=6)
    assert (got.kind, got.version, got.entries) == ("snapshot", 7, 2)
    assert parse_entries(got.body)[1].document_number == "12AB34567"


def _resign_without_signature(b: bytes) -> bytes:
    head, _, body = b.partition(b"\n")
    h = json.loads(head)
    del h["signature"]
    return json.dumps(h).encode() + b"\n" + body


def _flip_body_byte(b: bytes) -> bytes:
    arr = bytearray(b)
    arr[-5] ^= 1
    return bytes(arr)


@pytest.mark.parametrize(("mangle", "reason"), [
    (_resign_without_signature, "unsigned"),
    (lambda b: b[:-10], "truncated"),
    (lambda b: b[:20], "truncated"),
    (_flip_body_byte, "damaged"),
    (lambda b: b + b"x", "damaged"),
    (lambda b: b"hello\n" + b, "not a bundle"),
])
def test_bad_bundles_are_refused_with_the_reason(mangle, reason: str) -> None:
    b = snapshot(KEY, [person("p1", "DIALLO")], 7)
    with pytest.raises(BundleError, match=reason):
        open_bundle(mangle(b), KEY.public_key())


def test_another_key_and_a_changed_header_are_bad_signatures() -> None:
    b = snapshot(Ed25519PrivateKey.generate(), [person("p1", "DIALLO")], 7)
    with pytest.raises(BundleError, match="bad signature"):
        open_bundle(b, KEY.public_key())
    head, _, body = snapshot(KEY, [person("p1", "DIALLO")], 7).partition(b"\n")
    h = json.loads(head)
    h["version"] = 99
    with pytest.raises(BundleError, match="bad signature"):
        open_bundle(json.dumps(h).encode() + b"\n" + body, KEY.public_key())


def test_rollback_oversize_and_foreign_delta_are_refused() -> None:
    b = snapshot(KEY, [person("p1", "DIALLO")], 7)
    with pytest.raises(BundleError, match="older: version 7 is not newer than the applied 7"):
        open_bundle(b, KEY.public_key(), current_version=7)
    with pytest.raises(BundleError, match="oversized"):
        open_bundle(b, KEY.public_key(), max_bytes=100)
    big = make_bundle(b"\n" * 100_000, KEY, version=8)
    with pytest.raises(BundleError, match="oversized: the list is over"):
        open_bundle(big, KEY.public_key(), max_body_bytes=1000)
    d = make_bundle(b"", KEY, version=9, kind="delta", base=5)
    with pytest.raises(BundleError, match="delta for version 5, but 7 is applied"):
        open_bundle(d, KEY.public_key(), current_version=7)


def test_chunks_fit_the_packet_size_and_reassemble_in_any_order() -> None:
    entries = [person(f"p{i}", f"NAME{i}", "X", birth="1970") for i in range(3000)]
    b = snapshot(KEY, entries, 3)
    msgs = chunk_messages(b, "borderpost/v1", chunk_bytes=4096)
    assert len(msgs) > 3
    assert all(len(p) <= 4096 + 20 for t, p in msgs if "/chunk/" in t)
    assert msgs[0][0] == "borderpost/v1/_alerts/snapshot/manifest"
    shuffled = msgs[:]
    random.Random(2).shuffle(shuffled)
    asm = Assembler()
    done = [w for t, p in shuffled if (w := asm.feed(t, p)) is not None]
    assert done == [b]
    assert asm.pending() == []


def test_the_assembler_drops_chunks_not_newer_than_the_applied_list() -> None:
    b = snapshot(KEY, [person("p1", "DIALLO")], 3)
    asm = Assembler(current=lambda: 3)
    assert all(asm.feed(t, p) is None for t, p in chunk_messages(b, "x"))
    assert asm.pending() == []
    older = chunk_messages(snapshot(KEY, [person("p1", "DIALLO")], 2), "x")
    assert all(asm.feed(t, p) is None for t, p in older[1:])
    with pytest.raises(BundleError, match="older: version 2"):
        asm.feed(*older[0])
    with pytest.raises(BundleError, match="chunk"):
        asm.feed("x/_alerts/snapshot/chunk/0", b"junk")


def test_dump_entries_round_trips() -> None:
    es = [person("p1", "MÜLLER", "JÜRGEN"), document("d1", "D", "C01X00T47", document_code="P")]
    assert parse_entries(dump_entries(es)) == es


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["x/_alerts/snapshot/manifest", "x/_alerts/snapshot/chunk/0", "x/_alerts/delta/5/manifest",
                        "x/_alerts/delta/5/chunk/3", "x/_alerts/other"]),
       st.binary(max_size=300) | st.just(b"[" * 3000) | st.just(b'{"format": "borderpost-alerts/1"}'))
def test_the_assembler_refuses_odd_messages_with_bundle_error_only(topic: str, payload: bytes) -> None:
    asm = Assembler(current=lambda: 3)
    with contextlib.suppress(BundleError):
        assert asm.feed(topic, payload) is None
    with contextlib.suppress(BundleError):
        open_bundle(payload + b"\n" + payload, KEY.public_key())
