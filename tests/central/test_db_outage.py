"""PostgreSQL goes away under a running ingest: the batch is retried (unacknowledged, so a crash meanwhile would
leave it with the broker) and nothing is lost when the server is back."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central import registry, stats
from central.db import open_db
from central.ingest import Ingest, Options
from tests.central.helpers import device, enrolment, event
from tests.central.postgres import pg_bin, start_postgres

pytestmark = pytest.mark.slow


def wait_until(predicate, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except Exception:  # the database is down on purpose
            pass
        time.sleep(0.1)
    return False


def test_a_database_outage_loses_nothing(broker):
    if pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (CI's .ci/run does)")
    pg = start_postgres()                       # its own server: this test stops it
    try:
        engine = open_db(pg.createdb("outage"))
        dev = device()
        registry.enrol(engine, enrolment(dev), "test")
        ingest = Ingest(engine, broker.url, Options(client_id="central-outage"))
        ingest.registry.ttl = 0.2    # the registry is re-read during the outage too: that must wait, not quarantine
        stop, ready = threading.Event(), threading.Event()
        t = threading.Thread(target=ingest.run, args=(stop, ready), daemon=True)
        t.start()
        assert ready.wait(15)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub-outage", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for _ in range(10):
            pub.publish(*event(dev), qos=1).wait_for_publish(5)
        assert wait_until(lambda: stats.summary(engine)["events"] == 10)
        pg.stop()
        for _ in range(10):
            pub.publish(*event(dev), qos=1).wait_for_publish(5)
        assert wait_until(lambda: ingest.counters.db_errors > 0, 20)
        pg.resume()
        assert wait_until(lambda: stats.summary(engine)["events"] == 20, 60)
        s = stats.summary(engine)
        assert (s["events"], s["gaps"], s["quarantined"]) == (20, 0, 0)
        stop.set()
        t.join(10)
        pub.disconnect()
        pub.loop_stop()
        engine.dispose()
    finally:
        pg.stop()
