"""The uplink hands the retained alert-list topics to edge.alerts: a real mosquitto, a real Uplink."""

from __future__ import annotations

import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.alerts.sync import publish_list
from tests.alerts.helpers import document, person, snapshot, write_public
from tests.uplink.helpers import UplinkThread, make_post

KEY = Ed25519PrivateKey.generate()


def test_the_uplink_applies_the_agencys_list_and_still_delivers_events(tmp_path: Path, broker) -> None:
    pub = write_public(KEY, tmp_path / "list.pub")
    post = make_post(tmp_path, broker.url, keys=f'alert_list_public_key = "{pub}"')
    entries = [person(f"p{i}", f"NAME{i}", "X", "1970") for i in range(2000)] + [document("d1", "FRA", "A1")]
    publish_list("127.0.0.1", broker.port, "borderpost/v1", [snapshot(KEY, entries, 42)], chunk_bytes=4096)
    up = UplinkThread(post)
    try:
        assert up.uplink.alerts is not None
        end = time.monotonic() + 60
        while time.monotonic() < end and up.uplink.alerts.db.version() != 42:
            time.sleep(0.05)
        assert up.uplink.alerts.db.version() == 42, up.uplink.alerts.last_error
        assert up.uplink.alerts.db.counts() == {"document": 1, "person": 2000}
        tele = up.uplink.telemetry()             # what central's fleet view reads (alert_list_version, ...)
        assert (tele.alert_list_version, tele.alert_list_entries, tele.alert_list_stale) == (42, 2001, False)
        assert tele.alert_list_age_hours is not None and 0 <= tele.alert_list_age_hours < 1
        post.record(3)
        end = time.monotonic() + 30
        while time.monotonic() < end and post.store.stats().pending:
            time.sleep(0.05)
        assert post.store.stats().pending == 0
    finally:
        up.close()


def test_without_a_list_key_the_uplink_takes_no_list(tmp_path: Path, broker) -> None:
    post = make_post(tmp_path, broker.url)
    up = UplinkThread(post)
    try:
        assert up.uplink.alerts is None
        tele = up.uplink.telemetry()
        assert (tele.alert_list_version, tele.alert_list_entries, tele.alert_list_age_hours) == (None, None, None)
    finally:
        up.close()
