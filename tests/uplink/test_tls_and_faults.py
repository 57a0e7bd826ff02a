"""Mutual TLS with a per-device ACL, and the uplink process killed with -9 while events flow."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.uplink.client import certificate_mismatch
from tests.support.broker import Collector
from tests.uplink.helpers import check_delivery, crossing_events, make_post
from tests.uplink.mtls import start_agency

ROOT = Path(__file__).resolve().parents[2]


def test_mutual_tls_and_acl_confine_each_device_to_its_topics(tmp_path):
    """Against the broker `borderpost broker config` generates (tests/uplink/test_broker_acl.py has the attacks)."""
    agency = start_agency(tmp_path)
    m = agency.broker
    try:
        sub = Collector(m.port, "borderpost/#", client_id="central-1", tls=agency.tls(agency.service("central-1")))
        post = make_post(tmp_path, m.url, broker_extra=agency.broker_extra(agency.device("post-t", "dev-t")))
        ids = post.record(20)
        from tests.uplink.helpers import UplinkThread

        up = UplinkThread(post)
        deadline = time.monotonic() + 20
        while post.store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert post.store.stats().delivered == 20
        assert sub.wait_for(lambda s: len(s.payloads("events/crossing")) >= 20, 10)
        check_delivery(crossing_events(sub.payloads("events/crossing")), ids, post.key)
        up.close()

        # another device's certificate cannot publish under dev-t's topics: nothing of it reaches the agency,
        # and its events stay in its store (parked with the broker's reason, or pending), never lost
        before = len(sub.payloads("events/crossing"))
        other = tmp_path / "other"
        other.mkdir()
        post2 = make_post(other, m.url, broker_extra=agency.broker_extra(agency.device("post-t", "dev-x")))
        post2.record(2)
        up2 = UplinkThread(post2)  # its config still says device dev-t
        time.sleep(3)
        st = post2.store.stats()
        assert st.delivered == 0 and st.parked + st.pending == 2
        assert len(sub.payloads("events/crossing")) == before
        assert certificate_mismatch(post2.cfg) is not None   # `borderpost uplink` refuses to start like this
        up2.close()
        # without a client certificate the broker refuses the connection and events wait
        (tmp_path / "nocert").mkdir()
        post3 = make_post(tmp_path / "nocert", m.url, broker_extra=f'ca_file = "{agency.ca.cert_path}"')
        post3.record(1)
        up3 = UplinkThread(post3)
        time.sleep(1.5)
        assert not up3.uplink.state.connected and post3.store.stats().pending == 1
        assert up3.uplink.backoff.attempts >= 1  # refused connections back off instead of hammering
        up3.close()
        sub.close()
    finally:
        m.stop()


def _start_uplink(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge", "uplink", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_uplink_killed_with_9_at_random_moments_loses_nothing(tmp_path, broker):
    (tmp_path / "post").mkdir()
    post = make_post(tmp_path / "post", broker.url)
    sub = Collector(broker.port, "borderpost/v1/post-t/dev-t/events/#")
    rng = random.Random(7)
    ids = post.record(1500)
    proc = _start_uplink(post.path)
    try:
        for round_ in range(6):
            time.sleep(rng.uniform(0.2, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            ids += post.record(300, start=len(ids))
            if round_ == 3:
                broker.restart()
            proc = _start_uplink(post.path)
        deadline = time.monotonic() + 60
        while post.store.stats().pending and time.monotonic() < deadline:
            time.sleep(0.1)
        assert post.store.stats().pending == 0, proc.stderr
        assert sub.wait_for(lambda s: len({json.loads(p)["id"] for p in s.payloads()}) >= len(ids), 20)
        got = crossing_events(sub.payloads())
        check_delivery(got, ids, post.key)
        assert len(got) >= len(ids)
    finally:
        proc.kill()
        proc.wait()
        sub.close()


def test_last_will_marks_a_killed_uplink_offline(tmp_path, broker):
    post = make_post(tmp_path, broker.url)
    sub = Collector(broker.port, "borderpost/v1/post-t/dev-t/status")
    proc = _start_uplink(post.path)
    try:
        assert sub.wait_for(lambda s: any(json.loads(p)["data"]["state"] == "online" for p in s.payloads()), 15)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # keepalive 5 s: the broker gives up after 1.5 x keepalive and publishes the will
        assert sub.wait_for(lambda s: json.loads(s.payloads()[-1])["data"]["state"] == "offline", 15)
    finally:
        proc.kill()
        sub.close()
