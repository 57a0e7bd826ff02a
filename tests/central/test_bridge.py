"""A post reaching the centre through a regional mosquitto bridged to the central one: events go up to the
ingest, the agency's signed commands come down to the post."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central import registry, stats
from central.ingest import Ingest, Options
from tests.central.helpers import PREFIX, device, enrolment, event
from tests.support.broker import Collector, Mosquitto


def test_events_up_and_commands_down_through_a_regional_bridge(tmp_path: Path, broker, engine):
    regional = Mosquitto(tmp_path / "regional", extra=[
        "connection central", f"address 127.0.0.1:{broker.port}", f"topic {PREFIX}/# both 1",
        "cleansession false", "bridge_protocol_version mqttv311", "try_private true", "restart_timeout 1",
    ]).start()
    dev = device("post-r")
    registry.enrol(engine, enrolment(dev), "test")
    ingest = Ingest(engine, broker.url, Options(client_id="central-bridge"))
    stop, ready = threading.Event(), threading.Event()
    t = threading.Thread(target=ingest.run, args=(stop, ready), daemon=True)
    t.start()
    try:
        assert ready.wait(15)
        post_side = Collector(regional.port, f"{PREFIX}/post-r/kiosk-1/cmd/+", client_id="post-r-kiosk-1")
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="post-r-pub", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", regional.port)
        pub.loop_start()
        end = time.monotonic() + 20
        sent = 0
        while stats.summary(engine)["events"] < 1 and time.monotonic() < end:   # until the bridge is up
            pub.publish(*event(dev), qos=1).wait_for_publish(5)
            sent += 1
            time.sleep(0.3)
        for _ in range(5):
            pub.publish(*event(dev), qos=1).wait_for_publish(5)
        end = time.monotonic() + 20
        while stats.summary(engine)["events"] < sent + 5 and time.monotonic() < end:
            time.sleep(0.1)
        assert stats.summary(engine)["events"] == sent + 5
        central_pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agency-cmd", protocol=mqtt.MQTTv5)
        central_pub.connect("127.0.0.1", broker.port)
        central_pub.loop_start()
        central_pub.publish(f"{PREFIX}/post-r/kiosk-1/cmd/ping", b'{"signed": "elsewhere"}', qos=1).wait_for_publish(5)
        assert post_side.wait_for(lambda c: c.payloads("cmd/ping"), timeout=15)
        central_pub.disconnect()
        pub.disconnect()
        post_side.close()
    finally:
        stop.set()
        t.join(10)
        regional.stop()
