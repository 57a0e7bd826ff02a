"""The uplink's PUBACK bookkeeping, driven through a fake paho client so every interleaving is exact.

The real-broker tests show the happy paths; these pin down the cases where an event could be marked delivered
without its own PUBACK (message-id reuse), the window could break the broker's Receive Maximum, or one bad
message could stop delivery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.store import StoreError
from edge.uplink import Uplink
from tests.uplink.helpers import make_post

OK = ReasonCode(PacketTypes.PUBACK, "Success")
REFUSED = ReasonCode(PacketTypes.PUBACK, "Not authorized")


@dataclass
class Info:
    rc: int
    mid: int


class FakeClient:
    """Enough of paho's Client: publish() hands out message ids the way paho does (1..65535, wrapping)."""

    def __init__(self, last_mid: int = 0) -> None:
        self.last_mid = last_mid
        self.published: list[tuple[str, int, int]] = []   # (topic, qos, mid)
        self.acked: list[tuple[int, int]] = []             # (mid, qos) of received messages acknowledged

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Info:
        self.last_mid = self.last_mid % 65535 + 1
        self.published.append((topic, qos, self.last_mid))
        return Info(mqtt.MQTT_ERR_SUCCESS, self.last_mid)

    def mids(self, suffix: str) -> list[int]:
        return [mid for topic, _, mid in self.published if topic.endswith(suffix)]

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append((mid, qos))

    def disconnect(self) -> None:
        pass

    def loop_stop(self) -> None:
        pass


def connected_uplink(tmp_path, last_mid: int = 0) -> tuple[Uplink, FakeClient, object]:
    post = make_post(tmp_path, "mqtt://127.0.0.1:1")
    up = Uplink(post.cfg, post.store, post.key)
    fake = FakeClient(last_mid)
    up._generation = 1
    up._client = fake
    up._restart_from_store()
    up.state.connected = True
    return up, fake, post


def puback(up: Uplink, mid: int, rc: ReasonCode = OK) -> None:
    up._post(("puback", up._generation, (mid, rc, time.time())))


def test_a_reused_message_id_does_not_mark_an_event_delivered_without_its_own_puback(tmp_path):
    up, fake, post = connected_uplink(tmp_path, last_mid=65533)
    # a non-event QoS 1 message (the birth status, a command result) takes mid 65534 and is acknowledged
    up._client.publish(up.topics.status, b"{}", qos=1)
    puback(up, 65534)
    up._handle_events()
    # ... 65535 publishes later paho hands out 65534 again, now to a crossing event
    fake.last_mid = 65533
    post.record(1)
    up._fill_window()
    assert fake.mids("events/crossing") == [65534]
    up._handle_events()
    up._flush_acks()
    assert post.store.stats().pending == 1, "marked delivered on another message's PUBACK"
    puback(up, 65534)            # its own PUBACK
    up._handle_events()
    up._flush_acks()
    assert post.store.stats().delivered == 1


def test_acks_of_status_results_and_telemetry_are_not_kept_forever(tmp_path):
    up, fake, post = connected_uplink(tmp_path)
    up.cfg.broker.telemetry_interval_s = 0.0001
    for _ in range(50):
        up._next_telemetry = 0.0
        up._maybe_telemetry()           # QoS 0: paho reports it published at once
        puback(up, fake.last_mid)
    up._handle_events()
    post.record(3)
    up._fill_window()
    for mid in fake.mids("events/crossing"):
        puback(up, mid)
    up._handle_events()
    up._flush_acks()
    assert post.store.stats().delivered == 3
    kept = {name: len(v) for name, v in vars(up).items() if isinstance(v, dict | set | list) and name != "__dict__"}
    assert not any(kept.values()), f"acknowledgements of other messages pile up: {kept}"


def test_window_respects_the_brokers_receive_maximum(tmp_path):
    up, fake, post = connected_uplink(tmp_path)
    assert up.cfg.broker.inflight_window == 100
    up._receive_maximum = 5          # CONNACK said: no more than 5 unacknowledged QoS 1 publishes
    up._client.publish(up.topics.status, b"{}", qos=1)   # birth status, unacknowledged so far
    up._track_other(fake.last_mid)
    post.record(20)
    up._fill_window()
    assert len(fake.mids("events/crossing")) == 4
    for mid in fake.mids("/status") + fake.mids("events/crossing"):
        puback(up, mid)
    up._handle_events()
    up._fill_window()
    assert len(fake.mids("events/crossing")) == 9


def test_a_refused_duplicate_does_not_park_an_event_already_delivered(tmp_path):
    up, fake, post = connected_uplink(tmp_path)
    post.record(1)
    up._fill_window()
    first = fake.mids("events/crossing")[0]
    puback(up, first)
    up._handle_events()
    up._flush_acks()
    post.store.requeue_from(1)           # `resend`: published again
    up._restart_window_from(1)
    up._fill_window()
    second = fake.mids("events/crossing")[1]
    post.store.mark_delivered([1])       # the first copy's mark (e.g. by another run) lands first
    puback(up, second, REFUSED)
    up._handle_events()
    st = post.store.stats()
    assert st.delivered == 1 and st.parked == 0


def test_a_store_error_while_marking_drops_the_connection_instead_of_killing_the_uplink(tmp_path, monkeypatch):
    up, fake, post = connected_uplink(tmp_path)
    post.record(2)
    up._fill_window()
    for mid in fake.mids("events/crossing"):
        puback(up, mid)

    def broken(*a, **k):
        raise StoreError("store is unwritable: disk I/O error")

    monkeypatch.setattr(up.store, "mark_delivered", broken)
    up._iterate()                      # one pass of the connected loop: must not raise
    assert up._client is None and "store" in up.state.last_error
    monkeypatch.undo()
    assert post.store.stats().pending == 2   # nothing was marked: sent again after reconnecting


def test_a_busy_store_keeps_the_connection_and_the_pubacks_until_they_can_be_recorded(tmp_path, monkeypatch):
    up, fake, post = connected_uplink(tmp_path)
    post.record(2)
    up._fill_window()
    for mid in fake.mids("events/crossing"):
        puback(up, mid)

    def busy(*a, **k):
        raise StoreError("store is busy or unwritable: database is locked")

    monkeypatch.setattr(up.store, "mark_delivered", busy)
    up._iterate()
    assert up._client is fake and len(up._acked) == 2
    monkeypatch.undo()
    up._last_flush = 0.0
    up._iterate()
    assert post.store.stats().pending == 0 and post.store.stats().delivered == 2 and up._client is fake


@pytest.mark.parametrize("payload", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000 + b"1" + b"}" * 2000],
                         ids=["arrays", "objects"])
def test_a_deeply_nested_command_is_rejected_not_fatal(tmp_path, payload):
    up, fake, _post = connected_uplink(tmp_path)
    up._on_command(up.topics.of("cmd/ping"), payload)
    assert up.state.rejected_commands == 1
    assert fake.mids("cmd/ping/result")


def test_a_failing_command_is_answered_not_fatal(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.config import ConfigError
    from edge.uplink import commands

    up, _fake, _post = connected_uplink(tmp_path)
    agency = Ed25519PrivateKey.generate()
    up._command_key = agency.public_key()

    def broken():
        raise ConfigError("config.toml: broker.url: expected mqtt://HOST[:PORT]")

    up.reload_config = broken
    results = []
    up._result = lambda result, **_: results.append(result)
    target = "post-t/dev-t"
    up._on_command(up.topics.of("cmd/reload"), commands.sign("reload", {}, target, agency, "c1"))
    for bad in (True, 1.5, "3", -1, None):
        up._on_command(up.topics.of("cmd/resend"),
                       commands.sign("resend", {"from_seq": bad}, target, agency, f"r{bad!r}"))
    assert [r.ok for r in results] == [False] * 6
    assert "broker.url" in results[0].error
    assert all("from_seq" in r.error for r in results[1:])


def test_large_events_are_bounded_by_bytes_in_memory_not_only_by_count(tmp_path, monkeypatch):
    """Sealed biometrics can be hundreds of KB each: a backlog of them must not be read 500 at a time into memory,
    nor a whole window of them held in paho's inflight set."""
    from edge.events.model import Crossing, Decision
    from edge.uplink import client as client_mod

    monkeypatch.setattr(client_mod, "FETCH_BYTES", 1_000_000, raising=False)
    monkeypatch.setattr(client_mod, "MAX_INFLIGHT_BYTES", 1_000_000, raising=False)
    up, fake, post = connected_uplink(tmp_path)
    for i in range(30):
        post.recorder.record_crossing(Crossing(post="post-t", device="dev-t", role="kiosk", transaction=f"B{i}",
                                               alerts=["x" * 200_000], decision=Decision(outcome="admit", by="o")))
    up._fill_window()
    buffered = sum(len(r.payload) for r in up._buffer)
    assert buffered <= 1_200_000, f"{buffered} bytes read ahead"
    sent = fake.mids("events/crossing")
    assert 1 <= len(sent) <= 6, f"{len(sent)} large events in flight at once"
    for mid in sent:
        puback(up, mid)
    up._handle_events()
    up._fill_window()
    assert len(fake.mids("events/crossing")) > len(sent)     # acknowledged bytes make room again
    while post.store.stats().pending:                        # and everything gets there, in order
        for mid in fake.mids("events/crossing"):
            puback(up, mid)
        up._handle_events()
        up._flush_acks()
        up._fill_window()
    assert post.store.stats().delivered == 30


def test_resend_includes_events_whose_puback_was_not_yet_written(tmp_path):
    """A PUBACK still waiting to be written when `resend` arrives must not undo the resend for that event."""
    from edge.uplink import commands

    up, fake, post = connected_uplink(tmp_path)
    post.record(10)
    up._fill_window()
    mids = fake.mids("events/crossing")
    for mid in mids[:6]:
        puback(up, mid)
    up._handle_events()
    up._flush_acks()                                     # 1..6 recorded as delivered
    for mid in mids[6:]:
        up._on_puback(mid, OK, time.time())              # 7..10 acknowledged, not yet written
    up._execute(commands.Command("r1", "resend", {"from_seq": 5}))
    up._handle_events()
    up._flush_acks()
    up._fill_window()
    assert sorted(up._inflight.values()) == [5, 6, 7, 8, 9, 10]


def test_telemetry_that_cannot_be_measured_is_skipped_not_fatal(tmp_path, monkeypatch):
    import shutil

    up, fake, post = connected_uplink(tmp_path)

    def gone(path):
        raise FileNotFoundError(2, "No such file or directory", str(path))

    post.record(1)
    monkeypatch.setattr(shutil, "disk_usage", gone)
    up._next_telemetry = 0.0
    up._iterate()
    assert up._client is fake and fake.mids("events/crossing")
    assert not fake.mids("/telemetry")


def test_a_command_when_the_store_is_busy_is_answered_not_dropped(tmp_path, monkeypatch):
    """If the table of commands done cannot be read, the agency must hear so (and may send it again), rather
    than the command vanishing with a dropped connection; the command is acknowledged, not left to loop."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.uplink import commands

    up, fake, _post = connected_uplink(tmp_path)
    agency = Ed25519PrivateKey.generate()
    up._command_key = agency.public_key()

    def busy(command_id):
        raise StoreError("store is busy or unwritable: database is locked")

    monkeypatch.setattr(up.store, "command_done", busy)
    results = []
    up._result = lambda result, **_: results.append(result)
    up._commands.put((up._generation, (up.topics.of("cmd/ping"),
                                       commands.sign("ping", {}, "post-t/dev-t", agency, "p1"), 7, 1, False)))
    up._iterate()
    assert up._client is fake and fake.acked == [(7, 1)]
    assert len(results) == 1 and not results[0].ok and "try again" in results[0].error
