"""Against a real mosquitto: the agency publishes signed lists on retained topics, the appliance applies them;
a rollback and a forged list are refused with the reason and the list stays."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from edge.alerts.bundle import make_bundle
from edge.alerts.sync import AlertSync, publish_list
from tests.alerts.helpers import document, open_db, person, snapshot

KEY = Ed25519PrivateKey.generate()
PREFIX = "borderpost/v1"


class Appliance:
    """A subscriber that hands the alert topics to AlertSync, as the uplink does."""

    def __init__(self, port: int, sync: AlertSync) -> None:
        self.sync = sync
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="appliance", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe(sync.subscription, qos=1), self.ready.set())
        self.client.on_message = lambda c, u, msg: sync.handle(msg.topic, msg.payload) if sync.wants(msg.topic) \
            else None
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait(pred, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_published_lists_are_applied_and_rollbacks_refused(tmp_path: Path, broker) -> None:
    db = open_db(tmp_path, KEY)
    sync = AlertSync(db, PREFIX)
    entries = [person(f"p{i}", f"NAME{i}", "X", "1970") for i in range(4000)] + [document("d1", "FRA", "12AB34567")]
    # chunks of 8 KiB: this list travels in many retained messages
    publish_list("127.0.0.1", broker.port, PREFIX, [snapshot(KEY, entries, 100)], chunk_bytes=8192)
    app = Appliance(broker.port, sync)         # subscribes after the publish: retained messages bring the list
    try:
        assert wait(lambda: db.version() == 100), sync.last_error
        assert db.counts() == {"document": 1, "person": 4000}
        delta = make_bundle(b'{"op":"remove","id":"d1"}\n', KEY, version=101, kind="delta", base=100)
        publish_list("127.0.0.1", broker.port, PREFIX, [delta])
        assert wait(lambda: db.version() == 101), sync.last_error
        assert db.counts()["document"] == 0

        publish_list("127.0.0.1", broker.port, PREFIX, [snapshot(KEY, entries[:1], 50)])          # rollback
        assert wait(lambda: sync.last_error is not None)
        assert "older: version 50" in sync.last_error
        sync.last_error = None
        forged = snapshot(Ed25519PrivateKey.generate(), entries[:1], 200)
        publish_list("127.0.0.1", broker.port, PREFIX, [forged])
        assert wait(lambda: sync.last_error is not None)
        assert "bad signature" in sync.last_error
        assert db.version() == 101 and db.counts()["person"] == 4000
        assert db.matcher().match({"surname": "NAME17", "given_names": "X", "birth_date": "1970-01-01"})
    finally:
        app.close()
        sync.close()
