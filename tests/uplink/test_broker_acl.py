"""The generated broker configuration holds each device to its own post and name (issue 19 item 2).

A real mosquitto runs what `borderpost broker config` wrote; certificates come from edge.provision.pki
(CN "<post>/<device>"). Post A's kiosk-01 must not publish, read or take over anything of post B's kiosk-01.
"""

from __future__ import annotations

import time

import pytest

from edge.broker import mosquitto as gen
from tests.uplink.helpers import UplinkThread, check_delivery, crossing_events, make_post
from tests.uplink.mtls import Agency, Client, start_agency

NOT_AUTHORISED = 135
B = "borderpost/v1/post-b/kiosk-01"
A = "borderpost/v1/post-a/kiosk-01"


@pytest.fixture
def agency(tmp_path):
    a = start_agency(tmp_path)
    yield a
    a.broker.stop()


def test_a_device_cannot_publish_under_another_post(agency: Agency) -> None:
    a = Client(agency, agency.device("post-a", "kiosk-01"), "post-a/kiosk-01")
    central = Client(agency, agency.service("central-1"), "central-1")
    try:
        assert central.subscribe("borderpost/v1/#") == [1]
        for suffix in ("events/crossing", "status", "telemetry", "cmd/ping/result"):
            assert a.publish(f"{B}/{suffix}", b"forged", retain=suffix == "status") == NOT_AUTHORISED, suffix
            assert a.publish(f"{A}/{suffix}", b"own") in (0, 16), suffix
        assert a.publish(f"{A}/cmd/ping") == NOT_AUTHORISED       # devices do not send commands
        assert a.publish("borderpost/v1/post-a/kiosk-02/events/crossing") == NOT_AUTHORISED  # nor as a neighbour
        time.sleep(0.5)
        got = [e[1] for e in central.kinds("message")]
        assert got and all(t.startswith(A + "/") for t in got), got
        assert len(got) == 4
    finally:
        a.close()
        central.close()


def test_a_device_cannot_read_another_posts_commands(agency: Agency) -> None:
    a = Client(agency, agency.device("post-a", "kiosk-01"), "post-a/kiosk-01")
    central = Client(agency, agency.service("central-1"), "central-1")
    try:
        a.subscribe(f"{B}/cmd/+")
        a.subscribe("borderpost/v1/+/+/cmd/+")
        a.subscribe(f"{A}/cmd/+")
        assert central.publish(f"{B}/cmd/ping", b"for b") in (0, 16)
        assert central.publish(f"{A}/cmd/ping", b"for a") == 0
        assert a.wait(lambda: a.kinds("message"))
        time.sleep(0.5)
        # its own command (once per matching subscription), never post B's
        assert {(e[1], e[2]) for e in a.kinds("message")} == {(f"{A}/cmd/ping", b"for a")}
    finally:
        a.close()
        central.close()


def test_devices_read_the_alert_lists_and_only_services_publish_them(agency: Agency) -> None:
    central = Client(agency, agency.service("central-1"), "central-1")
    a = Client(agency, agency.device("post-a", "kiosk-01"), "post-a/kiosk-01")
    try:
        assert central.publish("borderpost/v1/_alerts/snapshot/manifest", b"signed header", retain=True) in (0, 16)
        assert a.publish("borderpost/v1/_alerts/snapshot/manifest", b"forged", retain=True) == NOT_AUTHORISED
        a.subscribe("borderpost/v1/_alerts/#")
        assert a.wait(lambda: a.kinds("message"))
        assert [(e[1], e[2]) for e in a.kinds("message")] == [("borderpost/v1/_alerts/snapshot/manifest",
                                                                b"signed header")]
    finally:
        a.close()
        central.close()


def test_no_certificate_can_take_over_another_devices_client_id(agency: Agency) -> None:
    b = Client(agency, agency.device("post-b", "kiosk-01"), "post-b/kiosk-01")
    try:
        for cid in ("post-b/kiosk-01", "post-b-kiosk-01"):
            thief = Client(agency, agency.device("post-a", "kiosk-01"), cid)
            thief.close()
        central = Client(agency, agency.service("central-1"), "post-b/kiosk-01")
        central.close()
        time.sleep(0.5)
        assert not b.kinds("disconnect"), b.log
        assert b.publish(f"{B}/events/crossing") in (0, 16)
    finally:
        b.close()


def test_the_uplink_delivers_through_the_generated_broker(agency: Agency, tmp_path) -> None:
    """The product end to end over mutual TLS: its client id and topics are what the ACL allows."""
    central = Client(agency, agency.service("central-1"), "central-1")
    central.subscribe("borderpost/v1/#")
    (tmp_path / "dev").mkdir()
    cert = agency.device("post-t", "dev-t")
    post = make_post(tmp_path / "dev", agency.broker.url, broker_extra=agency.broker_extra(cert))
    ids = post.record(10)
    up = UplinkThread(post)
    try:
        deadline = time.monotonic() + 20
        while post.store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert post.store.stats().delivered == 10 and post.store.stats().parked == 0
        assert central.wait(lambda: len([e for e in central.kinds("message") if "events/crossing" in e[1]]) >= 10)
        check_delivery(crossing_events([e[2] for e in central.kinds("message") if "events/crossing" in e[1]]),
                       ids, post.key)
    finally:
        up.close()
        central.close()


def test_the_acl_pins_post_and_device_and_names_services() -> None:
    acl = gen.acl_text("borderpost/v1", ["central-1"])
    assert "pattern write borderpost/v1/%u/events/#" in acl and "+/%u" not in acl
    assert "user central-1\ntopic read borderpost/v1/#\ntopic write borderpost/v1/+/+/cmd/+" in acl
    assert "pattern read borderpost/v1/_alerts/#" in acl


def test_the_uplink_refuses_a_certificate_for_another_post_or_device(agency: Agency, tmp_path) -> None:
    import subprocess
    import sys

    from tests.uplink.mtls import ROOT

    (tmp_path / "dev").mkdir()
    post = make_post(tmp_path / "dev", agency.broker.url, broker_extra=agency.broker_extra(
        agency.device("post-x", "dev-t")))
    r = subprocess.run([sys.executable, "-m", "edge", "uplink", "--config", str(post.path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "CN='post-t/dev-t'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_names_that_could_widen_a_pattern_are_refused() -> None:
    from edge.provision import pki

    assert pki.device_identity("post-1", "kiosk-01") == "post-1/kiosk-01"
    for post, device in (("a/b", "k"), ("p", "+"), ("p", "#"), ("", "k"), ("p", "k\0")):
        with pytest.raises(pki.PkiError):
            pki.device_identity(post, device)


def test_broker_config_refuses_a_key_that_is_not_the_certificates(agency: Agency, tmp_path) -> None:
    import subprocess
    import sys

    from tests.uplink.mtls import ROOT

    crt, _ = agency.device("post-a", "kiosk-01")
    _, other_key = agency.device("post-a", "kiosk-02")
    r = subprocess.run([sys.executable, "-m", "edge", "broker", "config", "--ca", str(agency.ca.cert_path),
                        "--cert", str(crt), "--key", str(other_key), "--out", str(tmp_path / "o")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "does not match its private key" in r.stderr and "Traceback" not in r.stderr
