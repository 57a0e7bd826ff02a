"""The ingest against a real mosquitto, on SQLite and PostgreSQL: store once, quarantine, gap -> signed resend."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from central import commands, db, registry, stats
from central.ingest import Ingest, Options
from tests.central.helpers import PREFIX, device, enrolment, event
from tests.support.broker import Collector


def wait_until(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.fixture
def running(engine, broker):
    """An ingest in a thread (with an agency command key and a 0.5 s gap grace)."""
    key = Ed25519PrivateKey.generate()
    ingest = Ingest(engine, broker.url, Options(client_id="central-test", command_key=key, gap_grace_s=0.5))
    stop, ready = threading.Event(), threading.Event()
    t = threading.Thread(target=ingest.run, args=(stop, ready), daemon=True)
    t.start()
    assert ready.wait(15)
    yield ingest, key
    stop.set()
    t.join(10)


def publisher(broker) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.time_ns()}", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def test_events_stored_once_and_bad_ones_quarantined(engine, broker, running):
    a, b = device("post-a"), device("post-b")
    for d in (a, b):
        registry.enrol(engine, enrolment(d), "test")
    pub = publisher(broker)
    sent = [event(a) for _ in range(20)] + [event(b) for _ in range(5)]
    for topic, payload in sent + sent[:5]:                         # five delivered twice
        pub.publish(topic, payload, qos=1).wait_for_publish(5)
    forged = json.loads(sent[0][1])
    forged["data"]["transaction"] = "FORGED"
    pub.publish(sent[0][0], json.dumps(forged), qos=1).wait_for_publish(5)
    pub.publish(f"{PREFIX}/post-b/kiosk-1/events/crossing", sent[1][1], qos=1).wait_for_publish(5)
    pub.publish(f"{PREFIX}/post-x/kiosk-9/events/crossing", sent[2][1], qos=1).wait_for_publish(5)
    assert wait_until(lambda: stats.summary(engine)["quarantined"] >= 3 and stats.summary(engine)["events"] >= 25)
    s = stats.summary(engine)
    assert (s["events"], s["by_post"]) == (25, {"post-a": 20, "post-b": 5})
    assert s["quarantined_by_reason"] == {"bad_signature": 1, "wrong_topic": 1, "unknown_device": 1}
    pub.disconnect()


def test_a_gap_gets_a_signed_resend_and_closes_when_filled(engine, broker, running):
    _, key = running
    dev = device("post-g")
    registry.enrol(engine, enrolment(dev), "test")
    device_side = Collector(broker.port, f"{PREFIX}/post-g/kiosk-1/cmd/+", client_id="device-g")
    pub = publisher(broker)
    evs = [event(dev) for _ in range(6)]
    for topic, payload in evs[:2] + evs[4:]:                        # 3 and 4 are missing
        pub.publish(topic, payload, qos=1).wait_for_publish(5)
    assert wait_until(lambda: stats.summary(engine)["gaps"] == 1)
    assert device_side.wait_for(lambda c: c.payloads("cmd/resend"), timeout=15)
    cmd = json.loads(device_side.payloads("cmd/resend")[0])
    assert (cmd["name"], cmd["target"], cmd["args"]) == ("resend", "post-g/kiosk-1", {"from_seq": 3})
    from edge.uplink.commands import Command, check  # the device's own verifier accepts it

    assert isinstance(check(device_side.payloads("cmd/resend")[0], "resend", "post-g/kiosk-1",
                            key.public_key()), Command)
    with engine.connect() as conn:
        audited = conn.execute(sa.select(db.audit.c.action).where(db.audit.c.actor == "central:gap")).scalars().all()
    assert audited == ["command resend"]
    assert [r["gaps"] for r in stats.fleet(engine)] == [1]
    for topic, payload in evs:                                      # the device sends everything from 3 on again
        pub.publish(topic, payload, qos=1).wait_for_publish(5)
    assert wait_until(lambda: stats.summary(engine)["gaps"] == 0)
    assert stats.summary(engine)["events"] == 6
    device_side.close()
    pub.disconnect()


def test_commands_are_signed_for_the_device_and_audited(engine, tmp_path: Path):
    from edge.uplink.commands import Command, Rejection, check

    priv, pub = commands.create_key(tmp_path / "agency.pem")
    key = commands.load_key(priv)
    cid, payload = commands.issue(engine, key, "post-a", "kiosk-1", "ping", {}, "alice")
    assert isinstance(check(payload, "ping", "post-a/kiosk-1", key.public_key()), Command)
    assert isinstance(check(payload, "ping", "post-a/kiosk-2", key.public_key()), Rejection)
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.commands.c.id, db.commands.c.issued_by)).one()
    assert row == (cid, "alice")
    assert oct(priv.stat().st_mode & 0o777) == "0o600" and pub.exists()
    with pytest.raises(commands.KeyError_):
        commands.create_key(priv)


def test_two_ingest_processes_share_the_work_and_store_each_event_once(engine, broker):
    devs = [device(f"post-{i}") for i in range(4)]
    for d in devs:
        registry.enrol(engine, enrolment(d), "test")
    ingests = [Ingest(engine, broker.url, Options(client_id=f"central-share-{i}", group="shared-test"))
               for i in range(2)]
    stop = threading.Event()
    threads = []
    for ing in ingests:
        ready = threading.Event()
        threads.append(threading.Thread(target=ing.run, args=(stop, ready), daemon=True))
        threads[-1].start()
        assert ready.wait(15)
    pub = publisher(broker)
    sent = [event(devs[i % 4]) for i in range(120)]
    for topic, payload in sent + sent[:20]:                       # twenty of them twice
        pub.publish(topic, payload, qos=1)
    assert wait_until(lambda: stats.summary(engine)["events"] >= 120, 60)
    time.sleep(0.5)
    s = stats.summary(engine)
    assert (s["events"], s["crossings"], s["gaps"], s["quarantined"]) == (120, 120, 0, 0)
    assert all(ing.counters.stored > 0 for ing in ingests)          # the broker gave each a share
    assert sum(ing.counters.stored for ing in ingests) >= 120       # a duplicate raced by both may count twice
    stop.set()
    for t in threads:
        t.join(10)
    pub.disconnect()
