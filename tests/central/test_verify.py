"""Verification before storage: every reason a message is refused, and the topic it must come on."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from central.verify import (
    BAD_SIGNATURE,
    MALFORMED,
    OVERSIZED,
    REVOKED_DEVICE,
    UNKNOWN_DEVICE,
    WRONG_TOPIC,
    Accepted,
    Enrolled,
    Quarantined,
    check_event,
    parse_topic,
)
from tests.central.helpers import PREFIX, device, event, lookup_of


def test_a_genuine_event_is_accepted_with_its_sequence():
    dev = device()
    topic, payload = event(dev)
    out = check_event(topic, payload, PREFIX, lookup_of(dev))
    assert isinstance(out, Accepted)
    assert (out.post, out.device, out.kind, out.seq) == ("post-a", "kiosk-1", "crossing", 1)


def test_a_forged_event_is_bad_signature():
    dev = device()
    topic, payload = event(dev)
    ev = json.loads(payload)
    ev["data"]["decision"]["outcome"] = "admit" if ev["data"]["decision"]["outcome"] != "admit" else "refuse"
    out = check_event(topic, json.dumps(ev).encode(), PREFIX, lookup_of(dev))
    assert isinstance(out, Quarantined) and out.reason_code == BAD_SIGNATURE


def test_an_event_signed_by_another_key_is_bad_signature():
    dev, impostor = device(), device()
    topic, payload = event(impostor)
    out = check_event(topic, payload, PREFIX, lookup_of(dev))
    assert isinstance(out, Quarantined) and out.reason_code == BAD_SIGNATURE


def test_a_genuine_event_under_another_posts_topic_is_wrong_topic():
    a, b = device("post-a"), device("post-b")
    _, payload = event(a)
    out = check_event(f"{PREFIX}/post-b/kiosk-1/events/crossing", payload, PREFIX, lookup_of(a, b))
    assert isinstance(out, Quarantined) and out.reason_code == WRONG_TOPIC


def test_unknown_and_revoked_devices():
    dev = device()
    topic, payload = event(dev)
    assert check_event(topic, payload, PREFIX, lambda p, d: None).reason_code == UNKNOWN_DEVICE
    revoked = lambda p, d: Enrolled("revoked", dev.key.public_key())  # noqa: E731
    assert check_event(topic, payload, PREFIX, revoked).reason_code == REVOKED_DEVICE
    awaiting = lambda p, d: Enrolled("awaiting_key", None)  # noqa: E731
    assert check_event(topic, payload, PREFIX, awaiting).reason_code == UNKNOWN_DEVICE


def test_oversized_and_malformed():
    dev = device()
    topic, _ = event(dev)
    assert check_event(topic, b"x" * 2000, PREFIX, lookup_of(dev), max_bytes=1000).reason_code == OVERSIZED
    for bad in (b"{not json", b"[1,2]", b"\xff\xfe", json.dumps({"id": "x"}).encode()):
        assert check_event(topic, bad, PREFIX, lookup_of(dev)).reason_code == MALFORMED
    _, payload = event(dev)
    assert check_event(f"{PREFIX}/post-a/kiosk-1/events/other", payload, PREFIX,
                       lookup_of(dev)).reason_code == MALFORMED


def test_a_status_on_an_event_topic_is_malformed():
    from datetime import UTC, datetime

    from edge.events import envelope
    from edge.events.model import Status

    dev = device()
    ev = envelope.build("status", Status(state="online", version="1"), key=dev.key, post=dev.post,
                        device=dev.device, sequence=0, time=datetime.now(UTC), clock_synced=True)
    out = check_event(f"{PREFIX}/post-a/kiosk-1/events/crossing", envelope.encode(ev), PREFIX, lookup_of(dev))
    assert isinstance(out, Quarantined) and out.reason_code == MALFORMED


@settings(deadline=None)  # a shared, loaded machine: the property matters, not the time
@given(st.text(max_size=80))
def test_parse_topic_never_raises_and_round_trips(text):
    parsed = parse_topic(text, PREFIX)
    if parsed is not None:
        assert f"{PREFIX}/{parsed[0]}/{parsed[1]}/{parsed[2]}" == text


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_quarantined_never_raised(blob):
    dev = device()
    out = check_event(f"{PREFIX}/post-a/kiosk-1/events/crossing", blob, PREFIX, lookup_of(dev))
    assert isinstance(out, Quarantined)


def test_a_version_1_crossing_from_an_appliance_not_yet_updated_is_stored_as_a_crossing():
    from datetime import UTC, datetime

    from central.simulate import crossing_data
    from edge.events import envelope
    from edge.events.model import CrossingV1

    dev = device()
    data = crossing_data(dev, dev.rng).model_dump(mode="json", exclude={"schema_version", "declared_identity",
                                                                         "answers", "protection"})
    ev = envelope.build("crossing_v1", CrossingV1.model_validate(data), key=dev.key, post=dev.post,
                        device=dev.device, sequence=1, time=datetime.now(UTC), clock_synced=True)
    assert ev["type"] == "org.borderpost.crossing.v1"
    out = check_event(f"{PREFIX}/{dev.post}/{dev.device}/events/crossing", envelope.encode(ev), PREFIX,
                      lookup_of(dev))
    assert isinstance(out, Accepted) and out.kind == "crossing"


def test_values_orjson_prints_unlike_rfc8785_are_verified_on_the_exact_form():
    """An integral float, a small float and a character beyond the BMP: signed over RFC 8785, still accepted."""
    from edge.events import envelope

    dev = device()
    topic, payload = event(dev)
    ev = json.loads(payload)
    del ev["signature"]
    ev.update(ratio=1.0, tiny=1e-7, mark="\U0001f600")      # CloudEvents extension attributes
    ev["signature"] = envelope._b64u(dev.key.sign(envelope.canonical(ev)))
    out = check_event(topic, json.dumps(ev).encode(), PREFIX, lookup_of(dev))
    assert isinstance(out, Accepted)


def test_a_nan_in_place_of_a_signed_null_is_refused():
    """orjson refuses NaN; the exact path must refuse the changed content too (orjson would print NaN as null)."""
    dev = device()
    topic, payload = event(dev)
    assert b'"note":null' in payload
    out = check_event(topic, payload.replace(b'"note":null', b'"note":NaN'), PREFIX, lookup_of(dev))
    assert isinstance(out, Quarantined) and out.reason_code in (BAD_SIGNATURE, MALFORMED)
