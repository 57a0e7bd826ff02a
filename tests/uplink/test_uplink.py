import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.uplink import commands
from tests.support.broker import Collector
from tests.uplink.helpers import UplinkThread, check_delivery, crossing_events, make_post

TOPIC = "borderpost/v1/post-t/dev-t/#"


def test_delivers_backlog_in_order_and_marks_delivered(tmp_path, broker):
    post = make_post(tmp_path, broker.url)
    ids = post.record(300)
    sub = Collector(broker.port, TOPIC)
    up = UplinkThread(post)
    try:
        assert sub.wait_for(lambda s: len(s.payloads("events/crossing")) >= 300, 30)
        deadline = time.monotonic() + 10
        while post.store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert post.store.stats().pending == 0 and post.store.stats().delivered == 300
        check_delivery(crossing_events(sub.payloads("events/crossing")), ids, post.key)
        status = [json.loads(p) for p in sub.payloads("/status")]
        assert status and status[-1]["data"]["state"] == "online"
    finally:
        up.close()
        sub.close()


def test_broker_down_then_up_loses_nothing(tmp_path, broker):
    broker.stop()
    post = make_post(tmp_path, broker.url)
    up = UplinkThread(post)
    try:
        ids = post.record(50)
        time.sleep(1.0)
        assert post.store.stats().pending == 50
        assert "cannot reach broker" in up.uplink.state.last_error
        broker.start()
        sub = Collector(broker.port, TOPIC, client_id="late-sub")
        more = post.record(50, start=50)
        up.uplink.backoff.succeeded()  # do not wait out the backoff in a test
        deadline = time.monotonic() + 30
        while post.store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert post.store.stats().pending == 0 and post.store.stats().delivered == 100  # none parked either
        # the subscriber connected after the first events may have been published: what it saw is in order,
        # and the store says every one was acknowledged by the broker
        sub.wait_for(lambda s: len({json.loads(p)["id"] for p in s.payloads("events/crossing")}) >= 50, 10)
        got = crossing_events(sub.payloads("events/crossing"))
        check_delivery(got, [e for e in ids + more if e in {g["id"] for g in got}], post.key)
        sub.close()
    finally:
        up.close()


def test_broker_killed_and_restarted_mid_flow(tmp_path, broker):
    post = make_post(tmp_path, broker.url)
    sub = Collector(broker.port, TOPIC)
    up = UplinkThread(post)
    try:
        ids = post.record(400)
        for _ in range(3):
            time.sleep(0.3)
            broker.kill()
            ids += post.record(100, start=len(ids))
            broker.start()
            up.uplink.backoff.succeeded()
        deadline = time.monotonic() + 60
        while post.store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.1)
        assert post.store.stats().pending == 0 and post.store.stats().delivered == len(ids)
        # the broker was killed with -9: messages it acknowledged but had not saved may be gone from it (the
        # broker's durability, see notes). What the subscriber got is ordered and signed, and the store
        # only marked delivered what the broker acknowledged.
        got = crossing_events(sub.payloads("events/crossing"))
        check_delivery(got, [g["id"] for g in got], post.key)
    finally:
        up.close()
        sub.close()


def test_refused_publish_is_parked_with_reason_not_retried(tmp_path):
    from tests.support.broker import Mosquitto

    acl = tmp_path / "acl"
    acl.write_text("user dev-t\ntopic write borderpost/v1/post-t/dev-t/events/crossing\n"
                   "topic readwrite borderpost/v1/post-t/dev-t/status\n"
                   "topic read borderpost/v1/post-t/dev-t/cmd/#\n"
                   "user sub\ntopic read borderpost/#\n")
    pw = tmp_path / "pw"
    import subprocess

    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "dev-t", "secret"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "sub", "subpw"], check=True)
    m = Mosquitto(tmp_path / "b", extra=["allow_anonymous false", f"password_file {pw}", f"acl_file {acl}"]).start()
    import os

    os.environ["BORDERPOST_BROKER_USERNAME"], os.environ["BORDERPOST_BROKER_PASSWORD"] = "dev-t", "secret"
    try:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        post = make_post(tmp_path, m.url)
        post.recorder.recipient = X25519PrivateKey.generate().public_key()
        from edge.events.model import Crossing, Decision

        ok_ids = post.record(3)
        r = post.recorder.record_crossing(
            Crossing(post="post-t", device="dev-t", role="kiosk", transaction="B",
                     decision=Decision(outcome="admit", by="o")), samples={"face": b"jpeg"})
        ok_ids += [*post.record(3, start=10), r.event_id]
        sub = Collector(m.port, TOPIC, auth=("sub", "subpw"))
        up = UplinkThread(post)
        deadline = time.monotonic() + 20
        while (post.store.stats().pending or not post.store.stats().parked) and time.monotonic() < deadline:
            time.sleep(0.05)
        st = post.store.stats()
        assert st.pending == 0 and st.parked == 1 and st.delivered == 7
        parked = [e for e in post.store.listing() if e["state"] == "parked"]
        assert parked[0]["kind"] == "biometrics" and "Not authorized" in parked[0]["park_reason"]
        assert up.uplink.state.parked == 1
        sub.wait_for(lambda s: len(s.payloads("events/crossing")) >= 7, 10)
        assert {json.loads(p)["id"] for p in sub.payloads("events/crossing")} == set(ok_ids)
        up.close()
        sub.close()
    finally:
        del os.environ["BORDERPOST_BROKER_USERNAME"], os.environ["BORDERPOST_BROKER_PASSWORD"]
        m.stop()


@pytest.fixture
def commanded(tmp_path, broker):
    agency = Ed25519PrivateKey.generate()
    pem = agency.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "cmd.pem").write_bytes(pem)
    post = make_post(tmp_path, broker.url, keys=f'agency_command_public_key = "{tmp_path}/cmd.pem"')
    sub = Collector(broker.port, "borderpost/v1/post-t/dev-t/cmd/+/result")
    up = UplinkThread(post)
    deadline = time.monotonic() + 10
    while not up.uplink.state.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    yield post, agency, sub, up
    up.close()
    sub.close()


def _send(broker, name: str, payload: bytes) -> None:
    import paho.mqtt.publish as publish

    publish.single(f"borderpost/v1/post-t/dev-t/cmd/{name}", payload, qos=1, hostname="127.0.0.1",
                   port=broker.port)


def _results(sub, n: int) -> list[dict]:
    assert sub.wait_for(lambda s: len(s.payloads("/result")) >= n, 10)
    return [json.loads(p)["data"] for p in sub.payloads("/result")]


def test_signed_commands_run_and_forged_ones_are_rejected(commanded, broker):
    _post, agency, sub, up = commanded
    target = "post-t/dev-t"
    ping = commands.sign("ping", {}, target, agency, str(uuid.uuid4()))
    _send(broker, "ping", ping)
    res = _results(sub, 1)
    assert res[0]["ok"] and res[0]["result"]["pong"] is True

    forged = commands.sign("ping", {}, target, Ed25519PrivateKey.generate(), str(uuid.uuid4()))
    _send(broker, "ping", forged)                                                    # wrong key
    _send(broker, "ping", ping)                                                      # replay
    _send(broker, "ping", b"{not json")                                              # malformed
    unsigned = json.loads(ping)
    unsigned.pop("signature")
    _send(broker, "ping", json.dumps(unsigned).encode())                             # unsigned
    _send(broker, "ping", commands.sign("ping", {}, "post-t/other", agency, "c5"))   # not for us
    old = commands.sign("ping", {}, target, agency, "c6", issued_at=time.time() - 3600)
    _send(broker, "ping", old)                                                       # stale
    res = _results(sub, 7)[1:]
    reasons = [r["error"] for r in res]
    assert not any(r["ok"] for r in res)
    assert reasons == ["bad signature", "command replayed", "command is not JSON",
                       "field 'signature' missing or of the wrong type",
                       "command is for 'post-t/other', not this device",
                       "command expired or issued in the future"]
    assert up.uplink.state.rejected_commands == 6


def test_resend_command_requeues_from_a_sequence(commanded, broker):
    post, agency, sub, _up = commanded
    events = Collector(broker.port, "borderpost/v1/post-t/dev-t/events/#", client_id="ev")
    post.record(10)
    deadline = time.monotonic() + 10
    while post.store.stats().delivered < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    _send(broker, "resend", commands.sign("resend", {"from_seq": 6}, "post-t/dev-t", agency, "r1"))
    res = _results(sub, 1)
    assert res[0]["ok"] and res[0]["result"]["requeued"] == 5
    assert events.wait_for(lambda s: len(s.payloads()) >= 15, 10)
    seqs = [int(json.loads(p)["sequence"]) for p in events.payloads()]
    assert seqs == list(range(1, 11)) + list(range(6, 11))
    events.close()


def test_telemetry_reports_queue_depth_and_reload_changes_it(commanded, broker, tmp_path):
    post, agency, sub, up = commanded
    tele = Collector(broker.port, "borderpost/v1/post-t/dev-t/telemetry", client_id="tele")
    # the uplink started with a one-hour interval; shorten it in the file and reload by command
    text = post.path.read_text().replace("telemetry_interval_s = 3600", "telemetry_interval_s = 0.2")
    post.path.write_text(text)
    from edge.config import load

    up.uplink.reload_config = lambda: load(post.path)[0]
    _send(broker, "reload", commands.sign("reload", {}, "post-t/dev-t", agency, "rl1"))
    res = _results(sub, 1)
    assert res[0]["ok"], res
    up.uplink._next_telemetry = 0.0
    assert tele.wait_for(lambda s: len(s.payloads()) >= 2, 10)
    data = json.loads(tele.payloads()[-1])["data"]
    assert data["queue_depth"] == 0 and data["storage_full"] is False and "disk_free_mb" in data
    tele.close()


def test_an_oversized_command_never_reaches_the_uplink(commanded, broker):
    """The uplink tells the broker its Maximum Packet Size: a megabyte on cmd/ is dropped by the broker instead of
    being read into the appliance's memory (and only then refused)."""
    _post, agency, sub, up = commanded
    _send(broker, "ping", b"{" + b" " * (1 << 20) + b"}")
    _send(broker, "ping", commands.sign("ping", {}, "post-t/dev-t", agency, "after-big"))
    _results(sub, 1)
    time.sleep(0.5)
    res = [json.loads(p)["data"] for p in sub.payloads("/result")]
    assert [r["command_id"] for r in res] == ["after-big"] and res[0]["ok"]
    assert up.uplink.state.rejected_commands == 0


def test_an_event_bigger_than_the_brokers_maximum_packet_size_is_parked_not_resent_forever(tmp_path):
    """A broker with a packet size limit (EMQX: 1 MB by default) disconnects a client that sends more. Sending it
    again after every reconnect would block every later crossing for good: it is parked with the reason."""
    from edge.events.model import Crossing, Decision
    from tests.support.broker import Mosquitto

    m = Mosquitto(tmp_path / "b", extra=["max_packet_size 3000"]).start()
    try:
        post = make_post(tmp_path, m.url)
        ids = post.record(2)
        big = post.recorder.record_crossing(Crossing(post="post-t", device="dev-t", role="kiosk", transaction="BIG",
                                                     alerts=["x" * 4000], decision=Decision(outcome="admit", by="o")))
        ids += post.record(2, start=10)
        sub = Collector(m.port, TOPIC)
        up = UplinkThread(post)
        try:
            deadline = time.monotonic() + 15
            while post.store.stats().pending and time.monotonic() < deadline:
                time.sleep(0.05)
            st = post.store.stats()
            assert st.pending == 0 and st.parked == 1 and st.delivered == 4
            parked = [e for e in post.store.listing() if e["state"] == "parked"]
            assert parked[0]["id"] == big.event_id and "maximum packet size" in parked[0]["park_reason"]
            assert sub.wait_for(lambda s: len(s.payloads("events/crossing")) >= 4, 10)
            check_delivery(crossing_events(sub.payloads("events/crossing")), ids, post.key)
            assert up.uplink.state.reconnects == 0
        finally:
            up.close()
            sub.close()
    finally:
        m.stop()


def _die_here(up) -> None:
    """The uplink's connection ends as in a crash: no answer, no acknowledgement reaches the broker."""
    client = up.uplink._client
    client.disconnect()
    client.loop_stop()


def _second_uplink(post):
    """Another uplink process for the same device (as systemd restarts it); counts the commands it runs."""
    import threading

    from edge.store import Store
    from edge.uplink.client import Uplink

    uplink = Uplink(post.cfg, Store.open(post.cfg.store.path, min_free_mb=0, synchronous="NORMAL"), post.key)
    runs: list[str] = []
    execute = uplink._execute
    uplink._execute = lambda cmd: runs.append(cmd.id) or execute(cmd)
    stop = threading.Event()
    thread = threading.Thread(target=uplink.run, args=(stop,), daemon=True)
    thread.start()
    return runs, stop, thread


def _ping_across_a_crash(commanded, broker, command_id: str, reached, release) -> tuple[list[str], list[dict]]:
    """Send a ping; once the first uplink has `reached` its crash point, kill its connection and start a second
    uplink. Returns (commands the second one ran, the answers the agency got)."""
    post, agency, sub, up = commanded
    _send(broker, "ping", commands.sign("ping", {}, "post-t/dev-t", agency, command_id))
    assert reached.wait(10)
    _die_here(up)
    runs, stop, thread = _second_uplink(post)
    try:
        return runs, _results(sub, 1)
    finally:
        stop.set()
        thread.join(10)
        release.set()


def test_a_command_the_uplink_died_running_is_delivered_again_and_run(commanded, broker):
    """At least once for commands too: one is acknowledged to the broker only after it was answered."""
    import threading

    started, release = threading.Event(), threading.Event()

    def stuck(cmd):
        started.set()
        release.wait(30)
        raise RuntimeError("this uplink is dead")

    commanded[3].uplink._execute = stuck
    runs, res = _ping_across_a_crash(commanded, broker, "k1", started, release)
    assert runs == ["k1"]
    assert [(r["command_id"], r["ok"]) for r in res] == [("k1", True)] and res[0]["result"]["pong"]


def test_a_command_answered_but_not_acknowledged_is_answered_again_not_run_twice(commanded, broker):
    """The uplink dies after keeping its answer, before sending it: the redelivered command gets that answer."""
    import threading

    up = commanded[3]
    kept, release = threading.Event(), threading.Event()
    publish = up.uplink._publish_other

    def die_before_answering(topic, payload, **kw):
        if topic.endswith("/result"):
            kept.set()
            release.wait(30)
            return
        publish(topic, payload, **kw)

    up.uplink._publish_other = die_before_answering
    runs, res = _ping_across_a_crash(commanded, broker, "k2", kept, release)
    assert runs == []                                     # not run a second time
    assert [(r["command_id"], r["ok"]) for r in res] == [("k2", True)] and res[0]["result"]["pong"]
